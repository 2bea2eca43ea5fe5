"""The morning summary at the top of the overview: score and grades, news, what needs a look, the trend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from scans import queries, rollups, services
from scans.models import FleetDay, Scan, Waiver
from scans.tests.factories import make_host, make_scan
from tests.personas import make_user

pytestmark = pytest.mark.django_db

IMG = "<img src=x onerror=alert(1)>"


def test_grades_follow_the_bands() -> None:
    assert [queries.grade(s) for s in (100, 90, 89, 80, 70, 60, 59, 0, None)] == [
        "A", "A", "B", "B", "C", "D", "F", "F", "–",
    ]  # fmt: skip


def test_the_summary_counts_the_fleet_as_the_morning_needs_it() -> None:
    now = timezone.now().replace(hour=12, minute=0)  # days in UTC: keep "hours ago" on the same day
    good = make_host("good")
    make_scan(good, score=95, when=now - timedelta(days=1, hours=1))
    today = make_scan(good, score=95, when=now - timedelta(hours=2))
    Scan.objects.filter(pk=today.pk).update(
        summary={**today.summary, "news": {"first": False, "new": {"5": 2}, "fixed": {"2": 1}}}
    )
    old = make_host(IMG)  # its last scan is three days old: stale
    make_scan(old, score=72, when=now - timedelta(days=3))
    broken = make_host("broken")
    make_scan(broken, score=55, when=now - timedelta(hours=5))
    make_scan(broken, status=Scan.Status.FAILED, score=None, when=now - timedelta(hours=1), error="unreachable")
    make_host("paused", enabled=False)  # never scanned, but disabled: not stale
    make_host("new-one")  # never scanned: stale
    Waiver.objects.create(check_id="5.4", reason="r", owner="o", expires=now.date() + timedelta(days=5))
    Waiver.objects.create(check_id="5.5", reason="r", owner="o", expires=now.date() + timedelta(days=40))

    days = {s.created.date() for s in Scan.objects.all()}
    assert rollups.rollup(Scan, FleetDay, sorted(days)) == len(days)  # what beat keeps in step
    m = queries.morning_summary(now=now)

    assert m.hosts == 5 and m.score == round((95 + 72 + 55) / 3)
    assert m.grades == {"A": 1, "B": 0, "C": 1, "D": 0, "F": 1, "–": 2}
    assert (m.new, m.fixed) == (2, 1)  # only the latest scans of the last day
    assert [h.name for h in m.failed] == ["broken"] and m.failed_count == 1
    assert [h.name for h in m.stale] == [IMG, "new-one"] and m.stale_count == 2
    assert [w.check_id for w in m.expiring] == ["5.4"] and m.expiring_count == 1
    # One point per day with scores in the window, the day's mean.
    assert len(m.trend_points[90]) == len({s.created.date() for s in Scan.objects.exclude(status="failed")})
    assert m.trend_points[90][-1][1] == round((95 + 55) / 2)  # today: good's and broken's scored scans
    assert "<svg" in m.trend[30] and 'role="img"' in m.trend[30]
    # WARN checks per host and section, a line per CIS section, summed in its text alternative.
    assert m.warn_chart.count("<polyline") == 7 and "WARN checks per host and section" in m.warn_chart


@pytest.mark.parametrize("hosts", [2, 25])
def test_the_summary_takes_three_queries_whatever_the_fleet(django_assert_num_queries, hosts: int) -> None:
    for i in range(hosts):
        make_scan(make_host(f"h{i:02d}"), score=50 + i)
    with django_assert_num_queries(3):
        m = queries.morning_summary()
    assert m.hosts == hosts


def test_the_overview_shows_the_summary_with_host_names_as_text() -> None:
    make_host(IMG)
    user = make_user("viewer")
    assert user is not None
    client = Client()
    client.force_login(user)
    text = client.get(reverse("scans:overview")).text
    assert "Fleet score" in text and "Since yesterday" in text and "Needs a look" in text
    assert IMG not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    partial = client.get(reverse("scans:overview"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="heat-map").text
    assert "Fleet score" not in partial  # the filters redraw the table only


def test_the_days_add_up_and_beat_keeps_today_and_yesterday_in_step() -> None:
    now = timezone.now().replace(hour=12, minute=0)
    host = make_host("web-1")
    make_scan(host, score=80, when=now - timedelta(days=5), warn_by_section={"5": 2})
    make_scan(host, score=60, when=now - timedelta(minutes=1), warn_by_section={"5": 1, "2": 1})
    make_scan(host, status=Scan.Status.FAILED, score=None, when=now, error="boom")  # no score: not counted
    assert services.rollup_fleet_days(now) == 1  # today's; yesterday had none
    today = FleetDay.objects.get()
    assert (today.scans, today.mean, today.warn["5"], today.warn["2"]) == (1, 60, 1, 1)
    chart = queries.morning_summary(now=now).warn_chart
    assert "5. Container Runtime: 1 to 1" in chart and "2. Docker daemon configuration: 1 to 1" in chart
    make_scan(make_host("db-1"), score=100, when=now)
    assert services.rollup_fleet_days(now) == 1 and FleetDay.objects.get().mean == 80  # again: idempotent
    assert [d.day for d in FleetDay.objects.all()] == [now.date()]  # five days ago waits for the backfill
