"""Scans through a real Celery worker process on Redis, against the real dockerd."""

from __future__ import annotations

import os
import time

import pytest
from django.db import connection
from django.db.models import Count

from dockerbench.runner import select
from hosts.models import Host
from hosts.services import CREDENTIALS_PREFIX, create_host, credentials_root, remove_orphaned_credentials
from scans import services, tasks
from scans.models import DiffSnapshot, LatestScan, Scan
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]

FINISHED = Scan.FINISHED_STATUSES


def finished(scan_id: int) -> Scan | None:
    scan = Scan.objects.get(pk=scan_id)
    return scan if scan.status in FINISHED else None


def no_duplicate_rows(scan: Scan) -> bool:
    dup_seq = scan.reported().values("seq").annotate(n=Count("id")).filter(n__gt=1)
    dup_diff = DiffSnapshot.objects.filter(scan=scan).values("container_id").annotate(n=Count("id")).filter(n__gt=1)
    return not dup_seq.exists() and not dup_diff.exists()


def test_a_scan_runs_end_to_end_through_the_worker(start_worker, containers, docker_url: str) -> None:
    worker = start_worker()
    container = containers("touch /tmp/drift; sleep 300", labels={"note": "<img src=x onerror=alert(1)>"})
    host = create_host("worker-e2e", docker_url, facts_method=Host.Facts.NONE)

    t0 = time.monotonic()
    scan = services.start_scan(host, trigger=Scan.Trigger.USER)  # autocommit: the task is sent at once
    seen: list[str] = []
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
    assert scan.reported().count() >= len(select())
    assert DiffSnapshot.objects.filter(scan=scan, container_id=container.id).exists()
    assert LatestScan.objects.get(host=host).scan_id == scan.pk
    assert elapsed < 30, elapsed


def test_the_same_scan_delivered_twice_runs_once(start_worker, docker_url: str) -> None:
    worker = start_worker()
    host = create_host("twice", docker_url, facts_method=Host.Facts.NONE)
    scan = services.start_scan(host, trigger=Scan.Trigger.USER)
    tasks.run_scan.delay(scan.pk)  # a second message for the same scan, as a redelivery would be

    done = wait_for(lambda: finished(scan.pk), what="the scan to finish")
    # Both messages handled: the worker logs each task as succeeded.
    wait_for(lambda: worker.log_text().count("succeeded in") >= 2, what="both deliveries to be handled")
    assert isinstance(done, Scan)
    results = done.reported().count()
    tasks.run_scan.delay(scan.pk)  # and once more after it finished
    wait_for(lambda: worker.log_text().count("succeeded in") >= 3, what="the late delivery to be handled")

    again = Scan.objects.get(pk=scan.pk)
    assert (again.status, again.attempts, again.finished) == (Scan.Status.SUCCEEDED, 1, done.finished)
    assert again.reported().count() == results
    assert no_duplicate_rows(again)


def _scan_stuck_in_collection(start_worker, gated_docker, **worker_options):
    """A scan whose worker is SIGKILLed while the engine (behind the gate) has not answered yet."""
    worker = start_worker(**worker_options)
    host = create_host("killed", gated_docker.url, facts_method=Host.Facts.NONE)
    scan = services.start_scan(host, trigger=Scan.Trigger.USER)
    wait_for(lambda: Scan.objects.filter(pk=scan.pk, status=Scan.Status.RUNNING).exists(), what="the claim")
    assert gated_docker.requests_seen.wait(30), "the worker never reached the engine"
    worker.kill()
    return scan, worker


def test_a_restarted_worker_notices_at_once_that_its_scan_died_and_runs_it_again(start_worker, gated_docker) -> None:
    # As with `make run` started again after its worker was killed: the same worker name comes back.
    scan, killed = _scan_stuck_in_collection(start_worker, gated_docker, name="restarted@%h")
    held = Scan.objects.get(pk=scan.pk)
    assert (held.status, held.worker, held.worker_pid) == (Scan.Status.RUNNING, killed.hostname, killed.proc.pid)
    gated_docker.release()

    start_worker(name="restarted@%h")  # on start it finds its own dead scan by its name and the dead pid
    done = wait_for(lambda: finished(scan.pk), timeout=60, what="the scan to run again and finish")

    assert isinstance(done, Scan)
    assert done.status == Scan.Status.SUCCEEDED, done.error
    assert done.attempts == 2  # retried once
    assert done.reported().count() >= len(select())
    assert no_duplicate_rows(done)
    # The killed worker could not remove its credentials directory; housekeeping does.
    remove_orphaned_credentials()
    left = [e for e in os.listdir(credentials_root()) if e.startswith(f"{CREDENTIALS_PREFIX}{killed.proc.pid}-")]
    assert left == []


def test_a_scan_whose_worker_died_is_noticed_by_its_heartbeat_and_run_by_another(
    start_worker, gated_docker, settings
) -> None:
    scan, _killed = _scan_stuck_in_collection(start_worker, gated_docker, heartbeat_seconds=0.5)
    gated_docker.release()
    time.sleep(1.5)
    settings.DOCKERBENCH_HEARTBEAT_TIMEOUT_SECONDS = 1  # the reaper here, with a short timeout for the test
    assert services.reap_stale_scans()["requeued"] == 1
    assert Scan.objects.get(pk=scan.pk).status == Scan.Status.QUEUED

    other = start_worker()
    done = wait_for(lambda: finished(scan.pk), timeout=60, what="another worker to run the scan")
    assert isinstance(done, Scan)
    assert done.status == Scan.Status.SUCCEEDED, (done.error, other.log_text()[-2000:])
    assert done.attempts == 2 and done.worker == other.hostname


def test_a_scan_whose_worker_was_killed_is_redelivered_and_resumes_its_claim(start_worker, gated_docker) -> None:
    # A short visibility timeout: the broker hands the unacked message to the next worker after 2 s. It is the
    # same task (same id), so it takes the scan over where the dead one held it.
    scan, killed = _scan_stuck_in_collection(start_worker, gated_docker, visibility_timeout=2)
    gated_docker.release()
    time.sleep(2.5)

    second = start_worker(visibility_timeout=2)
    done = wait_for(lambda: finished(scan.pk), timeout=60, what="the redelivered scan to finish")

    assert isinstance(done, Scan)
    assert done.status == Scan.Status.SUCCEEDED, (done.error, second.log_text()[-2000:])
    assert done.worker == second.hostname != killed.hostname
    assert done.reported().count() >= len(select())
    assert no_duplicate_rows(done)


def test_a_copy_of_a_live_workers_message_does_not_scan_the_host_a_second_time(start_worker, gated_docker) -> None:
    # Redis hands a message held past its visibility timeout (2 s here, an hour in production) to another worker
    # while its holder is still collecting: the copy must leave the scan to it.
    holder = start_worker(visibility_timeout=2, heartbeat_seconds=0.5)
    host = create_host("slow-engine", gated_docker.url, facts_method=Host.Facts.NONE)
    scan = services.start_scan(host, trigger=Scan.Trigger.USER)
    wait_for(lambda: Scan.objects.filter(pk=scan.pk, status=Scan.Status.RUNNING).exists(), what="the claim")
    assert gated_docker.requests_seen.wait(30), "the worker never reached the engine"

    other = start_worker(visibility_timeout=2)
    wait_for(lambda: "is not ours to run" in other.log_text(), timeout=30, what="the copy to reach the other worker")
    held = Scan.objects.get(pk=scan.pk)
    assert (held.worker, held.worker_pid, held.attempts) == (holder.hostname, holder.proc.pid, 1)
    gated_docker.release()

    done = wait_for(lambda: finished(scan.pk), timeout=60, what="the holder to finish the scan")
    assert isinstance(done, Scan)
    assert done.status == Scan.Status.SUCCEEDED, (done.error, holder.log_text()[-2000:])
    assert (done.worker, done.attempts) == (holder.hostname, 1)
    assert "taken over" not in holder.log_text()  # its results were recorded: nobody took the scan from it
    assert no_duplicate_rows(done)


def test_a_database_error_mid_scan_is_retried_and_the_retry_resumes_the_same_claim(start_worker, gated_docker) -> None:
    if connection.vendor != "postgresql":
        pytest.fail("this test cuts the worker's PostgreSQL connections; run it on PostgreSQL (make test does)")
    worker = start_worker()
    host = create_host("db-blip", gated_docker.url, facts_method=Host.Facts.NONE)
    scan = services.start_scan(host, trigger=Scan.Trigger.USER)
    wait_for(lambda: Scan.objects.filter(pk=scan.pk, status=Scan.Status.RUNNING).exists(), what="the claim")
    assert gated_docker.requests_seen.wait(30), "the worker never reached the engine"
    claim = Scan.objects.get(pk=scan.pk).claim
    with connection.cursor() as cursor:  # every connection of the worker to the test database, cut
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    gated_docker.release()

    done = wait_for(lambda: finished(scan.pk), timeout=60, what="the retried scan to finish")
    assert isinstance(done, Scan)
    assert done.status == Scan.Status.SUCCEEDED, (done.error, worker.log_text()[-3000:])
    assert (done.attempts, done.claim) == (1, claim)  # the same attempt, resumed by the retry
    assert "Retry in" in worker.log_text()  # Celery retried the task
    assert no_duplicate_rows(done)


def test_an_operator_cancels_a_running_scan_and_the_worker_stops_and_records_nothing(
    start_worker, gated_docker
) -> None:
    worker = start_worker(heartbeat_seconds=0.5)
    host = create_host("cancelled", gated_docker.url, facts_method=Host.Facts.NONE)
    scan = services.start_scan(host, trigger=Scan.Trigger.USER)
    wait_for(lambda: Scan.objects.filter(pk=scan.pk, status=Scan.Status.RUNNING).exists(), what="the claim")
    assert services.cancel_scan(Scan.objects.get(pk=scan.pk))
    gated_docker.release()
    wait_for(lambda: "succeeded in" in worker.log_text(), timeout=60, what="the worker to give the scan up")
    done = Scan.objects.get(pk=scan.pk)
    assert done.status == Scan.Status.CANCELLED
    assert not done.reported().exists() and not LatestScan.objects.filter(host=host).exists()
