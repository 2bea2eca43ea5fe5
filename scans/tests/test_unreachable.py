"""A host that is down: its scheduled scan is retried with backoff, without a worker slot, then it is unreachable."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from hosts.models import Host
from hosts.services import create_host
from scans import services
from scans.models import Scan
from tests.workers import wait_for

DOWN = "unix:///nonexistent/docker.sock"


@pytest.mark.django_db
def test_a_down_hosts_scheduled_scan_is_retried_with_backoff_then_the_host_is_unreachable(
    celery_queue: str,  # the retries' messages go to this session's own queue, which no worker reads here
    docker_url: str,
) -> None:
    host = create_host("down", DOWN, facts_method=Host.Facts.NONE)
    scan = services.start_scan(host, trigger=Scan.Trigger.SCHEDULE)
    delays = []
    for _ in range(3):
        before = timezone.now()
        ran = services.run_scan(scan.pk, worker="w")
        assert ran is not None and ran.status == Scan.Status.QUEUED, ran and ran.error
        assert "the host did not answer" in ran.progress["note"] and "/nonexistent/docker.sock" in ran.progress["note"]
        assert ran.sent_at is not None
        delays.append(round((ran.sent_at - before).total_seconds()))
        host.refresh_from_db()
        assert host.unreachable_since is None  # not yet: it may be a blip
    assert delays == [60, 120, 240]  # doubled each time: seven minutes for a host to come back

    failed = services.run_scan(scan.pk, worker="w")
    assert failed is not None and failed.status == Scan.Status.FAILED
    assert failed.error.endswith("(tried 4 times)") and failed.retries == 3 and failed.attempts == 4
    host.refresh_from_db()
    assert host.unreachable_since is not None

    # Back: the next scan that collects clears it.
    Host.objects.filter(pk=host.pk).update(url=docker_url)
    back = services.run_scan(services.start_scan(host, trigger=Scan.Trigger.USER).pk, worker="w")
    assert back is not None and back.status == Scan.Status.SUCCEEDED
    host.refresh_from_db()
    assert host.unreachable_since is None


@pytest.mark.django_db
def test_a_scan_someone_waits_for_fails_at_once_and_marks_the_host_unreachable() -> None:
    host = create_host("down-now", DOWN, facts_method=Host.Facts.NONE)
    scan = services.run_scan(services.start_scan(host, trigger=Scan.Trigger.USER).pk, worker="w")
    assert scan is not None and scan.status == Scan.Status.FAILED and scan.retries == 0
    host.refresh_from_db()
    assert host.unreachable_since is not None


@pytest.mark.django_db
def test_a_worker_death_after_retries_still_gets_its_second_chance(celery_queue: str) -> None:
    host = create_host("flaky", DOWN, facts_method=Host.Facts.NONE)
    scan = services.start_scan(host, trigger=Scan.Trigger.SCHEDULE)
    services.run_scan(scan.pk, worker="w")  # one retry: attempts 1, retries 1
    assert services.claim_scan(scan.pk, worker="dead") is not None  # attempts 2: then the worker dies
    stale = timezone.now() - services.heartbeat_timeout() - timedelta(seconds=1)
    Scan.objects.filter(pk=scan.pk).update(heartbeat=stale)
    assert services.reap_stale_scans()["requeued"] == 1


@pytest.mark.slow
@pytest.mark.docker
def test_a_retry_waiting_for_its_turn_holds_no_worker_slot(start_worker, docker_url: str) -> None:
    worker = start_worker()  # the solo pool: one slot
    down = create_host("down-nightly", DOWN, facts_method=Host.Facts.NONE)
    waiting = services.start_scan(down, trigger=Scan.Trigger.SCHEDULE)
    wait_for(lambda: Scan.objects.filter(pk=waiting.pk, retries=1, status=Scan.Status.QUEUED).exists(), what="retry")

    t0 = time.monotonic()
    other = services.start_scan(create_host("up", docker_url, facts_method=Host.Facts.NONE), trigger="user")
    wait_for(lambda: Scan.objects.filter(pk=other.pk, status=Scan.Status.SUCCEEDED).exists(), what="the other scan")
    assert time.monotonic() - t0 < 30, worker.log_text()[-2000:]
    assert Scan.objects.get(pk=waiting.pk).status == Scan.Status.QUEUED  # still waiting out its 60 s
