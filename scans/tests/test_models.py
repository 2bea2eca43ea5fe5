from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from hosts.models import Host
from scans.models import Scan, ScanSnapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> Host:
    return Host.objects.create(name="web-1", url="unix:///var/run/docker.sock")


def test_a_new_scan_is_queued_with_an_empty_summary(host: Host) -> None:
    first = Scan.objects.create(host=host, status=Scan.Status.SUCCEEDED)
    second = Scan.objects.create(host=host, trigger=Scan.Trigger.SCHEDULE)

    first.summary["score"] = 80
    first.save()
    second.refresh_from_db()

    assert (second.status, second.trigger) == (Scan.Status.QUEUED, Scan.Trigger.SCHEDULE)
    assert second.summary == {}  # the default is a fresh dict per scan, never shared
    assert not second.is_finished
    assert second.duration is None


def test_a_host_cannot_have_two_active_scans(host: Host) -> None:
    Scan.objects.create(host=host, status=Scan.Status.RUNNING)
    Scan.objects.create(host=host, status=Scan.Status.FAILED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Scan.objects.create(host=host)


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


def test_snapshot_is_stored_compressed_and_round_trips(host: Host) -> None:
    text = '{"info": {"Name": "<img src=x>"}, "path": "/tmp/\\udcff"}' + " " * 10000
    scan = Scan.objects.create(host=host, status=Scan.Status.SUCCEEDED, summary={"score": 72})
    ScanSnapshot.pack(scan, text).save()

    stored = ScanSnapshot.objects.get(scan=scan)

    assert stored.unpack() == text
    assert stored.size == len(text.encode())
    assert len(bytes(stored.data)) < stored.size // 10
    assert Scan.objects.get(pk=scan.pk).summary == {"score": 72}


def test_scans_list_newest_first_and_go_with_their_host(host: Host) -> None:
    older = Scan.objects.create(host=host, status=Scan.Status.SUCCEEDED)
    newer = Scan.objects.create(host=host)

    assert list(host.scans.all()) == [newer, older]

    host.delete()
    assert Scan.objects.count() == 0


def test_warn_sections_follow_the_summary_on_every_save(host: Host) -> None:
    sections = {"1": {"WARN": 2}, "2": {"PASS": 4}, "5": {"WARN": 1, "PASS": 3}, "9": {"WARN": 1}}
    scan = Scan.objects.create(host=host, status=Scan.Status.SUCCEEDED, summary={"sections": sections})
    assert scan.warn_sections == ",1,5,"  # sections of the catalog only, as the overview's heat map

    scan.summary = {"sections": {"2": {"WARN": 3}}}
    scan.save(update_fields=["summary"])  # record_results saves this way
    scan.refresh_from_db()
    assert scan.warn_sections == ",2,"

    scan.summary = {}
    scan.save()
    scan.refresh_from_db()
    assert scan.warn_sections == ""
