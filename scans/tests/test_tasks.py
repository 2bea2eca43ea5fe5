"""Scans through a real Celery worker process on Redis, against the real dockerd."""

from __future__ import annotations

import os
import tempfile
import time

import pytest
from django.db.models import Count

from dockerbench.runner import select
from hosts.models import Host, Tag
from hosts.services import CREDENTIALS_PREFIX, create_host
from scans import services, tasks
from scans.models import CheckResult, DiffSnapshot, Scan, Schedule
from scans.tests.worker_fixtures import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]

FINISHED = Scan.FINISHED_STATUSES


def finished(scan_id: int) -> Scan | None:
    scan = Scan.objects.get(pk=scan_id)
    return scan if scan.status in FINISHED else None


def no_duplicate_rows(scan: Scan) -> bool:
    dup_seq = CheckResult.objects.filter(scan=scan).values("seq").annotate(n=Count("id")).filter(n__gt=1)
    dup_diff = DiffSnapshot.objects.filter(scan=scan).values("container_id").annotate(n=Count("id")).filter(n__gt=1)
    return not dup_seq.exists() and not dup_diff.exists()


def test_a_scan_runs_end_to_end_through_the_worker(start_worker, containers, docker_url: str) -> None:  # type: ignore[no-untyped-def]
    worker = start_worker()
    container = containers("touch /tmp/drift; sleep 300", labels={"note": "<img src=x onerror=alert(1)>"})
    host = create_host("worker-e2e", docker_url, facts_method=Host.Facts.NONE)

    t0 = time.monotonic()
    scan = services.start_scan(host, trigger=Scan.Trigger.USER)  # autocommit: the task is sent at once
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        scan.refresh_from_db()
        if not seen or seen[-1] != scan.status:
            seen.append(scan.status)
        if scan.status in FINISHED:
            break
        time.sleep(0.01)
    elapsed = time.monotonic() - t0

    assert scan.status == Scan.Status.SUCCEEDED, (scan.error, worker.log_text()[-2000:])
    assert seen[0] == Scan.Status.QUEUED and Scan.Status.RUNNING in seen, seen
    assert scan.worker.startswith("test-") and scan.attempts == 1
    assert scan.progress["checks_done"] == scan.progress["checks_total"] == len(select())
    assert scan.results.count() >= len(select())
    assert DiffSnapshot.objects.filter(scan=scan, container_id=container.id).exists()
    host.refresh_from_db()
    assert host.latest_scan_id == scan.pk
    assert elapsed < 30, elapsed


def test_the_same_scan_delivered_twice_runs_once(start_worker, docker_url: str) -> None:  # type: ignore[no-untyped-def]
    worker = start_worker()
    host = create_host("twice", docker_url, facts_method=Host.Facts.NONE)
    scan = services.start_scan(host, trigger=Scan.Trigger.USER)
    tasks.run_scan.delay(scan.pk)  # a second message for the same scan, as a redelivery would be

    done = wait_for(lambda: finished(scan.pk), what="the scan to finish")
    # Both messages handled: the worker logs each task as succeeded.
    wait_for(lambda: worker.log_text().count("succeeded in") >= 2, what="both deliveries to be handled")
    assert isinstance(done, Scan)
    results = done.results.count()
    tasks.run_scan.delay(scan.pk)  # and once more after it finished
    wait_for(lambda: worker.log_text().count("succeeded in") >= 3, what="the late delivery to be handled")

    again = Scan.objects.get(pk=scan.pk)
    assert (again.status, again.attempts, again.finished) == (Scan.Status.SUCCEEDED, 1, done.finished)
    assert again.results.count() == results
    assert no_duplicate_rows(again)


def _scan_stuck_in_collection(start_worker, gated_docker, **worker_options):  # type: ignore[no-untyped-def]
    """A scan whose worker is SIGKILLed while the engine (behind the gate) has not answered yet."""
    worker = start_worker(**worker_options)
    host = create_host("killed", gated_docker.url, facts_method=Host.Facts.NONE)
    scan = services.start_scan(host, trigger=Scan.Trigger.USER)
    wait_for(lambda: Scan.objects.filter(pk=scan.pk, status=Scan.Status.RUNNING).exists(), what="the claim")
    assert gated_docker.requests_seen.wait(30), "the worker never reached the engine"
    worker.kill()
    return scan, worker.proc.pid


def test_a_scan_whose_worker_was_killed_is_failed_by_the_reaper(start_worker, gated_docker, settings) -> None:  # type: ignore[no-untyped-def]
    scan, killed_pid = _scan_stuck_in_collection(start_worker, gated_docker)
    time.sleep(0.5)
    scan.refresh_from_db()
    assert scan.status == Scan.Status.RUNNING  # nobody is left to say otherwise...

    settings.DOCKERBENCH_SCAN_TIME_LIMIT = 0  # ...until the reaper sees it has been running too long
    assert services.reap_stale_scans() == 1

    scan.refresh_from_db()
    assert scan.status == Scan.Status.FAILED
    assert "the worker stopped before finishing" in scan.error
    assert not scan.results.exists()
    retry = services.start_scan(scan.host, trigger=Scan.Trigger.USER)
    assert retry.pk != scan.pk and retry.status == Scan.Status.QUEUED
    # The killed worker could not remove its credentials directory; the reaper did.
    left = [e for e in os.listdir(tempfile.gettempdir()) if e.startswith(f"{CREDENTIALS_PREFIX}{killed_pid}-")]
    assert left == []


def test_a_scan_whose_worker_was_killed_is_redelivered_and_succeeds(start_worker, gated_docker) -> None:  # type: ignore[no-untyped-def]
    # A short visibility timeout and scan time limit: the broker hands the unacked message to the next worker
    # after 2 s, and that worker may reclaim a RUNNING scan started more than 2 s ago.
    options = {"visibility_timeout": 2, "scan_time_limit": 2}
    scan, _pid = _scan_stuck_in_collection(start_worker, gated_docker, **options)
    first_worker = Scan.objects.get(pk=scan.pk).worker
    gated_docker.release()
    time.sleep(2.5)

    second = start_worker(**options)
    done = wait_for(lambda: finished(scan.pk), timeout=60, what="the redelivered scan to finish")

    assert isinstance(done, Scan)
    assert done.status == Scan.Status.SUCCEEDED, (done.error, second.log_text()[-2000:])
    assert done.attempts == 2
    assert done.worker != first_worker
    assert done.results.count() >= len(select())
    assert no_duplicate_rows(done)


def test_a_schedule_run_by_the_worker_scans_every_enabled_host_with_its_tag(start_worker, docker_url: str) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    fleet = Tag.objects.create(name="fleet")
    hosts = [create_host(f"fleet-{i}", docker_url, tags=[fleet], facts_method=Host.Facts.NONE) for i in range(2)]
    paused = create_host("fleet-off", docker_url, tags=[fleet], enabled=False)
    schedule = Schedule.objects.create(name="fleet nightly", tag=fleet)

    tasks.run_schedule.delay(schedule.pk)

    def both_done() -> bool:
        scans = Scan.objects.filter(host__in=hosts)
        return scans.count() == 2 and all(s.status in FINISHED for s in scans)

    wait_for(both_done, timeout=60, what="one scan per tagged host")
    scans = Scan.objects.filter(host__in=hosts)
    assert {s.status for s in scans} == {Scan.Status.SUCCEEDED}
    assert {s.trigger for s in scans} == {Scan.Trigger.SCHEDULE}
    assert not Scan.objects.filter(host=paused).exists()
