"""Findings with a life: identity across scans, sightings, episodes and what counts as a fix."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from scans import queries, tracking
from scans.models import Episode, Finding, Scan, Sighting
from scans.services import TRACKED
from scans.tests.factories import make_host, make_scan, track
from tests.personas import make_user

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def nightly(host, n: int):  # noqa: ANN001, ANN201 - test helper
    start = timezone.now() - n * DAY
    return [make_scan(host, when=start + i * DAY) for i in range(n)]


def test_a_container_recreated_with_the_same_name_is_the_same_finding() -> None:
    host = make_host()
    one, two = nightly(host, 2)
    rows = [tracking.Row(0, "5.10", "WARN", "container", "a" * 64, "/web", "no memory limit", {"Memory": 0})]
    tracking.track(TRACKED, host_id=host.pk, scan_id=one.pk, when=one.created, rows=rows, first=True)
    recreated = [tracking.Row(0, "5.10", "WARN", "container", "b" * 64, "/web", "no memory limit", {"Memory": 0})]
    news = tracking.track(TRACKED, host_id=host.pk, scan_id=two.pk, when=two.created, rows=recreated, first=False)

    (finding,) = Finding.objects.filter(host=host)
    assert (finding.object_key, finding.state, finding.reopened) == ("web", "open", 0)
    assert news.opened == [] and news.fixed == []  # the same problem, still open: not news
    assert Episode.objects.filter(finding=finding).count() == 1
    # What each scan reported keeps the id it saw.
    assert [s.object_id[0] for s in one.reported()] == ["a"]
    assert [s.object_id[0] for s in two.reported()] == ["b"]


def test_a_skip_is_not_a_fix_and_a_judged_absence_is() -> None:
    host = make_host()
    first, skipped, failed_part, judged = nightly(host, 4)
    track(first, ("5.4", "WARN", "container", "db"), ("5.4", "WARN", "container", "web"))
    # The containers could not be collected: the check says SKIP for the host, and nothing is fixed.
    news = track(skipped, ("5.4", "SKIP", "", ""))
    assert news.fixed == [] and Finding.objects.filter(host=host, state="open").count() == 2
    # The check errored: nothing is fixed either.
    news = track(failed_part, ("5.4", "ERROR", "", ""))
    assert news.fixed == []
    # The check ran and no longer names "web" (removed or fixed): fixed; "db" stays open.
    news = track(judged, ("5.4", "WARN", "container", "db"))
    assert [Finding.objects.get(pk=pk).object_key for pk in news.fixed] == ["web"]
    assert news.as_summary() == {"first": False, "new": {}, "fixed": {"5": 1}}
    # What was open at each scan, exactly: web stayed open through the two scans that could not judge it.
    assert sorted(e.finding.object_key for e in Episode.open_at(skipped)) == ["db", "web"]
    assert sorted(e.finding.object_key for e in Episode.open_at(failed_part)) == ["db", "web"]
    assert [e.finding.object_key for e in Episode.open_at(judged)] == ["db"]
    # ...while what each scan reported is what it said.
    assert [(s.check_id, s.status) for s in skipped.reported()] == [("5.4", "SKIP")]


def test_a_finding_fixed_and_back_is_reopened_with_its_times_to_remediate() -> None:
    host = make_host()
    a, b, c, d = nightly(host, 4)
    track(a, ("2.1", "WARN", "", ""))
    track(b, ("2.1", "PASS", "", ""))
    news = track(c, ("2.1", "WARN", "", ""))
    track(d, ("2.1", "WARN", "", ""))

    (finding,) = Finding.objects.filter(host=host)
    assert (finding.state, finding.reopened, finding.status) == ("open", 1, "WARN")
    assert news.reopened == [finding.pk] and news.opened == [finding.pk]
    episodes = list(Episode.objects.filter(finding=finding).order_by("opened_scan"))
    assert [(e.opened_scan, e.fixed_scan) for e in episodes] == [(a.pk, b.pk), (c.pk, None)]
    fixed = episodes[0].fixed
    assert fixed is not None and fixed - episodes[0].opened == b.created - a.created
    stats = queries.remediation(days=30)
    assert stats.fleet.fixed == 1 and stats.fleet.mean_days == 1.0 and stats.fleet.open == 1
    assert [(r.label, r.fixed, r.p90_days) for r in stats.by_section] == [("2. Docker daemon configuration", 1, 1.0)]


def test_a_first_scans_backlog_is_not_news() -> None:
    host = make_host()
    (scan,) = nightly(host, 1)
    news = track(scan, ("5.4", "WARN", "container", "db"))
    assert news.first and news.opened  # the episode opens: the finding is open
    scan.refresh_from_db()
    assert queries._news(scan, "") == (None, None)  # but the overview has nothing to compare


def test_a_quiet_night_writes_no_sighting() -> None:
    host = make_host()
    scans = nightly(host, 5)
    for scan in scans:
        track(scan, ("5.4", "WARN", "container", "db"), ("2.1", "PASS", "", ""))
    assert Sighting.objects.filter(host=host).count() == 2
    assert all(scan.reported().count() == 2 for scan in scans)


def test_history_replayed_at_random_answers_each_scan_exactly() -> None:
    """For a random history, what each scan reported and what was open then match a direct record."""
    rng = random.Random(7)  # noqa: S311 - test data
    host = make_host()
    objects = ["a", "b", "c", "d"]
    scans = nightly(host, 25)
    expected_reported: dict[int, list[tuple[str, str, str, str]]] = {}
    expected_open: dict[int, set[str]] = {}
    open_now: set[str] = set()
    for scan in scans:
        skip = rng.random() < 0.15
        rows = []
        if skip:
            rows.append(tracking.Row(0, "5.10", "SKIP", "", "", "", "not collected", {}))
        else:
            for i, name in enumerate(objects):
                if rng.random() < 0.5:
                    rows.append(tracking.Row(i, "5.10", "WARN", "container", f"id-{name}", name, "m", {"v": i}))
            if not rows:
                rows.append(tracking.Row(0, "5.10", "PASS", "", "", "", "", {}))
            open_now = {r.object_name for r in rows if r.status == "WARN"}
        tracking.track(TRACKED, host_id=host.pk, scan_id=scan.pk, when=scan.created, rows=rows, first=scan is scans[0])
        expected_reported[scan.pk] = sorted((r.check_id, r.status, r.object_name, r.object_id) for r in rows)
        expected_open[scan.pk] = set(open_now)
    for scan in Scan.objects.filter(host=host):
        got = sorted((s.check_id, s.status, s.object_name, s.object_id) for s in scan.reported())
        assert got == expected_reported[scan.pk], scan.pk
        assert {e.finding.object_key for e in Episode.open_at(scan)} == expected_open[scan.pk], scan.pk
    assert Sighting.objects.filter(host=host).count() < sum(len(v) for v in expected_reported.values())


def test_each_secret_variable_of_a_container_is_its_own_finding_whatever_the_order() -> None:
    host = make_host()
    one, two, three = nightly(host, 3)

    def env(seq: int, variable: str) -> tracking.Row:
        evidence = {"variable": variable, "reason": "name", "kind": "", "value": "<redacted:secret,len=8>"}
        return tracking.Row(seq, "S.1", "WARN", "container", "c" * 64, "/api", f"{variable} holds a secret", evidence)

    run = TRACKED
    tracking.track(
        run,
        host_id=host.pk,
        scan_id=one.pk,
        when=one.created,
        rows=[env(0, "DB_PASSWORD"), env(1, "API_TOKEN")],
        first=True,
    )
    # The engine lists them the other way round: the same two findings, nothing new, nothing fixed.
    news = tracking.track(
        run,
        host_id=host.pk,
        scan_id=two.pk,
        when=two.created,
        rows=[env(0, "API_TOKEN"), env(1, "DB_PASSWORD")],
        first=False,
    )
    assert (news.opened, news.fixed) == ([], [])
    # The password moves to a secret file: that finding alone is fixed.
    news = tracking.track(
        run, host_id=host.pk, scan_id=three.pk, when=three.created, rows=[env(0, "API_TOKEN")], first=False
    )
    assert [Finding.objects.get(pk=pk).detail for pk in news.fixed] == ["DB_PASSWORD"]
    assert {(f.object_key, f.detail, f.state) for f in Finding.objects.filter(host=host)} == {
        ("api", "API_TOKEN", "open"),
        ("api", "DB_PASSWORD", "fixed"),
    }


def test_remediation_lists_the_catalogs_sections_in_order_then_ours() -> None:
    host = make_host()
    (scan,) = nightly(host, 1)
    track(scan, ("S.1", "WARN", "container", "api"), ("5.4", "WARN", "container", "db"), ("2.1", "WARN", "", ""))
    assert [r.key for r in queries.remediation().by_section] == ["2", "5", "S"]


def test_the_remediation_page_lists_the_50_slowest_hosts(client: Client) -> None:
    for i in range(52):
        host = make_host(f"h{i:02d}")
        (scan,) = nightly(host, 1)
        track(scan, ("2.1", "WARN", "", ""))
    user = make_user("viewer")
    assert user is not None
    client.force_login(user)
    page = client.get("/fleet/remediation/").text
    assert "The 50 hosts slowest to remediate (90th percentile) of\n    52" in page
    assert page.count("/fleet/hosts/") == 50
