"""Scan retention (scans.retention) on the real database: what goes, what stays, and in what batches."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hosts.models import Host
from scans import retention, services
from scans.models import DiffSnapshot, Episode, Finding, FleetDay, LatestScan, Scan, ScanSnapshot, Sighting
from scans.tests.factories import make_diff, make_host, make_scan, track
from tests.personas import make_user

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
DELETE = re.compile(r'^DELETE FROM "(?P<table>\w+)"(?: WHERE .* IN \((?P<ids>[^)]*)\))?')


def _history(host: Host, ages: list[int]) -> list[Scan]:
    """Nightly scans ``ages`` days ago (oldest first), tracked with the real rules: a container fixed, then
    back (two episodes), a host-wide check always PASS (one sighting across every scan)."""
    scans = []
    now = timezone.now()
    for n, age in enumerate(ages):
        scan = make_scan(host, when=now - age * DAY, warn_by_section={"5": 1})
        status = "PASS" if n % 3 == 1 else "WARN"
        track(scan, ("5.4", status, "container", "db", f"night {n % 3}"), ("2.1", "PASS", "", ""))
        scans.append(scan)
    return scans


def _reported() -> dict[int, set[tuple]]:
    """What every scan reports, as the scan pages read it (Sighting.at)."""
    return {
        scan.pk: set(Sighting.at(scan).values_list("finding_id", "status", "message")) for scan in Scan.objects.all()
    }


@pytest.fixture
def fleet(settings) -> dict[str, Host]:
    settings.DOCKERBENCH_SCAN_RETENTION_DAYS = 400
    busy = make_host("busy")
    _history(busy, [600, 550, 500, 450, 420, 390, 10, 1])
    quiet = make_host("quiet")  # scanned long ago only: its latest scan is old
    _history(quiet, [700, 650, 600])
    return {"busy": busy, "quiet": quiet}


def test_old_scans_go_but_each_hosts_latest_and_every_findings_history_stays(fleet: dict[str, Host]) -> None:
    busy, quiet = fleet["busy"], fleet["quiet"]
    before = _reported()
    findings = set(Finding.objects.values_list("pk", "state", "first_seen", "opened", "reopened"))
    episodes = set(Episode.objects.values_list("pk", "opened_scan", "fixed_scan"))
    cutoff = timezone.now() - 400 * DAY

    pruned = retention.prune_scans()

    kept = Scan.objects.order_by("created")
    assert pruned["scans"] == 5 + 2
    assert [s.created > cutoff for s in kept.filter(host=busy)] == [True, True, True]
    assert list(kept.filter(host=quiet)) == [LatestScan.of(quiet)]  # old, but its latest
    assert LatestScan.objects.count() == 2
    # Every kept scan still reports exactly what it did; what went reported only for deleted scans.
    assert _reported() == {pk: rows for pk, rows in before.items() if kept.filter(pk=pk).exists()}
    assert pruned["sightings"] > 0
    first = {h: min(kept.filter(host_id=h).values_list("pk", flat=True)) for h in (busy.pk, quiet.pk)}
    for sighting in Sighting.objects.all():
        assert sighting.until is None or sighting.until > first[sighting.host_id]
    # Findings and their episodes are kept as they were.
    assert set(Finding.objects.values_list("pk", "state", "first_seen", "opened", "reopened")) == findings
    assert set(Episode.objects.values_list("pk", "opened_scan", "fixed_scan")) == episodes


def test_pruning_twice_deletes_nothing_more(fleet: dict[str, Host]) -> None:
    retention.prune_scans()
    left = (Scan.objects.count(), Sighting.objects.count())

    assert retention.prune_scans() == {"scans": 0, "sightings": 0}
    assert (Scan.objects.count(), Sighting.objects.count()) == left


def test_pages_still_render_after_pruning(fleet: dict[str, Host]) -> None:
    client = Client()
    viewer = make_user("viewer")
    assert viewer is not None
    client.force_login(viewer)
    oldest = Scan.objects.filter(host=fleet["busy"]).order_by("created")[0]
    retention.prune_scans()

    for host in fleet.values():
        page = client.get(reverse("scans:host", args=[host.pk]))
        assert page.status_code == 200
        assert "5.4" in page.text
        latest = LatestScan.of(host)
        assert latest is not None
        assert client.get(reverse("scans:scan", args=[latest.pk])).status_code == 200
    assert client.get(reverse("scans:scan", args=[oldest.pk])).status_code == 404
    assert client.get(reverse("scans:overview")).status_code == 200


def test_active_scans_and_each_hosts_newest_scan_stay_whatever_their_age(settings) -> None:
    settings.DOCKERBENCH_SCAN_RETENTION_DAYS = 30
    host = make_host()
    scored = make_scan(host, when=timezone.now() - 90 * DAY)
    failed = make_scan(host, status=Scan.Status.FAILED, when=timezone.now() - 80 * DAY)
    other = make_host()
    old = make_scan(other, when=timezone.now() - 100 * DAY, latest=False)
    running = make_scan(other, status=Scan.Status.RUNNING, when=timezone.now() - 70 * DAY)

    assert retention.prune_scans()["scans"] == 1

    assert set(Scan.objects.values_list("pk", flat=True)) == {scored.pk, failed.pk, running.pk}
    assert not Scan.objects.filter(pk=old.pk).exists()


def test_a_deleted_scan_takes_its_raw_snapshot_and_diffs(settings) -> None:
    settings.DOCKERBENCH_SCAN_RETENTION_DAYS = 30
    host = make_host()
    old = make_scan(host, when=timezone.now() - 60 * DAY, latest=False)
    ScanSnapshot.pack(old, "{}").save()
    make_diff(old)
    make_scan(host)

    retention.prune_scans()

    assert not ScanSnapshot.objects.exists()
    assert not DiffSnapshot.objects.exists()


def test_zero_keeps_every_scan_and_a_short_rule_keeps_a_week(settings) -> None:
    host = make_host()
    make_scan(host, when=timezone.now() - 5 * DAY, latest=False)
    make_scan(host, when=timezone.now() - 3000 * DAY, latest=False)
    make_scan(host)

    settings.DOCKERBENCH_SCAN_RETENTION_DAYS = 0
    assert retention.prune_scans() == {"scans": 0, "sightings": 0}
    settings.DOCKERBENCH_SCAN_RETENTION_DAYS = 1  # yesterday's FleetDay is recomputed from its scans
    assert retention.prune_scans()["scans"] == 1
    assert Scan.objects.count() == 2


def test_the_fleets_daily_totals_survive_their_scans(settings) -> None:
    settings.DOCKERBENCH_SCAN_RETENTION_DAYS = 30
    host = make_host()
    make_scan(host, when=timezone.now() - 60 * DAY, latest=False)
    make_scan(host)
    day = (timezone.now() - 60 * DAY).date()
    FleetDay.objects.create(day=day, scans=1, score_sum=80)

    retention.prune_scans()
    services.rollup_fleet_days()

    assert FleetDay.objects.get(day=day).scans == 1


def _deletes(queries: CaptureQueriesContext, table: str) -> list[int]:
    """The number of ids in each DELETE from ``table`` (each by primary key: WHERE ... IN (...))."""
    sizes = []
    for query in queries.captured_queries:
        found = DELETE.match(query["sql"])
        if found and found["table"] == table:
            assert found["ids"] is not None, query["sql"]
            sizes.append(found["ids"].count(",") + 1)
    return sizes


def test_scans_and_sightings_are_deleted_in_bounded_batches(fleet: dict[str, Host], settings) -> None:
    settings.DOCKERBENCH_PRUNE_BATCH_SIZE = 3

    with CaptureQueriesContext(connection) as queries:
        pruned = retention.prune_scans()

    scans = _deletes(queries, "scans_scan")
    assert sum(scans) == pruned["scans"] == 7
    assert scans == [3, 3, 1]
    sightings = _deletes(queries, "scans_sighting")
    assert sum(sightings) == pruned["sightings"]
    assert max(sightings) <= 3
    assert not [q for q in queries.captured_queries if "LOCK TABLE" in q["sql"].upper()]


def test_snapshots_are_pruned_in_bounded_batches(settings) -> None:
    settings.DOCKERBENCH_SNAPSHOT_RETENTION_DAYS = 30
    settings.DOCKERBENCH_PRUNE_BATCH_SIZE = 2
    host = make_host()
    for _ in range(5):
        scan = make_scan(host, when=timezone.now() - 40 * DAY, latest=False)
        ScanSnapshot.pack(scan, "{}").save()
        make_diff(scan)
    make_scan(host)

    with CaptureQueriesContext(connection) as queries:
        assert services.prune_snapshots() == 5

    assert _deletes(queries, "scans_scansnapshot") == [2, 2, 1]
    assert _deletes(queries, "scans_diffsnapshot") == [2, 2, 1]
