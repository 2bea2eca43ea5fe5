from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hosts.models import Host
from scans.models import Scan

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> Host:
    return Host.objects.create(name="web-1", url="unix:///var/run/docker.sock")


def test_a_new_scan_is_queued_with_an_empty_summary(host: Host) -> None:
    first = Scan.objects.create(host=host)
    second = Scan.objects.create(host=host, trigger=Scan.Trigger.SCHEDULE)

    first.summary["score"] = 80
    first.save()
    second.refresh_from_db()

    assert (second.status, second.trigger) == (Scan.Status.QUEUED, Scan.Trigger.SCHEDULE)
    assert second.summary == {}  # the default is a fresh dict per scan, never shared
    assert second.snapshot is None
    assert not second.is_finished
    assert second.duration is None


@pytest.mark.parametrize(
    ("status", "finished"),
    [
        (Scan.Status.QUEUED, False),
        (Scan.Status.RUNNING, False),
        (Scan.Status.SUCCEEDED, True),
        (Scan.Status.PARTIAL, True),
        (Scan.Status.FAILED, True),
    ],
)
def test_is_finished_follows_the_status(host: Host, status: str, finished: bool) -> None:
    assert Scan(host=host, status=status).is_finished is finished


def test_duration_is_finished_minus_started(host: Host) -> None:
    started = datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    scan = Scan.objects.create(host=host, started=started, finished=started + timedelta(seconds=2.5))
    assert scan.duration == timedelta(seconds=2.5)


def test_snapshot_and_summary_round_trip_as_json(host: Host) -> None:
    snapshot = {"schema": 1, "info": {"ServerVersion": "20.10.24"}, "containers": [{"name": "<img src=x>"}]}
    summary = {"score": 72, "sections": {"5": {"WARN": 3, "PASS": 20}}}
    scan = Scan.objects.create(host=host, snapshot=snapshot, summary=summary)

    scan.refresh_from_db()

    assert (scan.snapshot, scan.summary) == (snapshot, summary)


def test_scans_list_newest_first_and_go_with_their_host(host: Host) -> None:
    older = Scan.objects.create(host=host)
    newer = Scan.objects.create(host=host)

    assert list(host.scans.all()) == [newer, older]

    host.delete()
    assert Scan.objects.count() == 0
