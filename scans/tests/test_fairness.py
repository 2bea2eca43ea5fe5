"""A "Scan now" beside a night's scans, through real Celery workers on Redis, against the real dockerd."""

from __future__ import annotations

import time

import pytest

from hosts.models import Host
from hosts.services import create_host
from scans import services
from scans.models import Scan
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def test_a_scan_now_starts_within_seconds_while_the_scheduled_queue_is_full_of_slow_scans(
    start_worker, gated_docker, docker_url: str
) -> None:
    # As deployed: a worker on every queue, and one set aside for the interactive queue alone.
    busy = start_worker(name="busy@%h")
    reserved = start_worker(name="reserved@%h", queues=("interactive",))
    nightly = [create_host(f"slow-{i}", gated_docker.url, facts_method=Host.Facts.NONE) for i in range(3)]
    scheduled = [services.start_scan(host, trigger=Scan.Trigger.SCHEDULE) for host in nightly]
    wait_for(lambda: Scan.objects.filter(host__in=nightly, status=Scan.Status.RUNNING).exists(), what="a claim")
    assert gated_docker.requests_seen.wait(30), "the busy worker never reached the engine"

    t0 = time.monotonic()
    now = services.start_scan(create_host("urgent", docker_url, facts_method=Host.Facts.NONE), trigger="user")
    wait_for(lambda: Scan.objects.filter(pk=now.pk, status__in=Scan.FINISHED_STATUSES).exists(), what="scan now")
    now.refresh_from_db()
    assert now.status == Scan.Status.SUCCEEDED, (now.error, reserved.log_text()[-2000:])
    assert now.worker == reserved.hostname
    assert now.started is not None and (now.started - now.created).total_seconds() < 5, (now.created, now.started)
    assert time.monotonic() - t0 < 30
    # The night's scans are still waiting behind the one stuck in collection, on the busy worker only.
    assert set(Scan.objects.filter(pk__in=[s.pk for s in scheduled]).values_list("status", flat=True)) == {
        Scan.Status.RUNNING,
        Scan.Status.QUEUED,
    }
    assert Scan.objects.get(host__in=nightly, status=Scan.Status.RUNNING).worker == busy.hostname
    gated_docker.release()
    wait_for(
        lambda: Scan.objects.filter(pk__in=[s.pk for s in scheduled], status=Scan.Status.SUCCEEDED).count() == 3,
        timeout=90,
        what="the night's scans, once the engine answers",
    )


def test_a_scan_now_of_a_host_whose_nightly_scan_waits_runs_that_scan_at_once(start_worker, docker_url: str) -> None:
    worker = start_worker(queues=("interactive",))  # nothing reads the scheduled queue: the nightly scan waits
    host = create_host("waiting", docker_url, facts_method=Host.Facts.NONE)
    nightly = services.start_scan(host, trigger=Scan.Trigger.SCHEDULE)
    again, created = services.queue_scan(host, trigger=Scan.Trigger.USER)
    assert (again.pk, created) == (nightly.pk, False)
    wait_for(lambda: Scan.objects.filter(pk=nightly.pk, status=Scan.Status.SUCCEEDED).exists(), what="the scan")
    assert Scan.objects.get(pk=nightly.pk).worker == worker.hostname
