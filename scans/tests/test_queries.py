from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hosts.models import Host
from scans import charts, queries
from scans.models import LatestScan, Scan
from scans.tests.factories import make_diff, make_host, make_result, make_scan, track

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def seed_host(name: str, *, scans: int = 2, tags: tuple[str, ...] = (), warn: dict[str, int] | None = None) -> Host:
    """A host with a nightly history; the previous scan WARNs 5.4 on a and b, the latest on a and c."""
    host = make_host(name, tags=tags)
    start = timezone.now() - scans * DAY
    warn = {"5": 2} if warn is None else warn
    scan = None
    for i in range(scans):
        scan = make_scan(host, score=50 + i % 50, when=start + i * DAY, warn_by_section=warn)
        if i < scans - 1:
            track(scan, ("5.4", "WARN", "container", "a"), ("5.4", "WARN", "container", "b"))
    assert scan is not None
    track(
        scan,
        ("5.4", "WARN", "container", "a"),
        ("5.4", "WARN", "container", "c"),
        ("5.4", "PASS", "container", "d"),
    )
    return host


def test_overview_rows_carry_heat_map_sparkline_and_new_and_fixed() -> None:
    seed_host("web-1", scans=3, warn={"2": 1, "5": 4})

    data = queries.fleet_overview()

    (row,) = data.rows
    assert [c.warn for c in row.cells] == [0, 1, 0, 0, 4, 0, 0]
    assert row.cells[4].colour == "#8f1d2c"  # the fleet's highest count is the darkest
    assert row.cells[0].colour == "#eef6ee"
    assert row.sparkline.count(",") == 3  # three scores, oldest first
    assert (row.new, row.fixed) == (1, 1)  # c is new, b is fixed, a stays
    assert getattr(row.host, "newest_status") == Scan.Status.SUCCEEDED  # noqa: B009 - an annotation


def test_overview_without_a_previous_scan_has_nothing_to_compare() -> None:
    seed_host("web-1", scans=1)
    make_host("never-scanned")

    rows = {r.host.name: r for r in queries.fleet_overview().rows}

    assert (rows["web-1"].new, rows["web-1"].fixed) == (None, None)
    assert rows["never-scanned"].scan is None
    assert [c.warn for c in rows["never-scanned"].cells] == [None] * 7


def test_overview_filters_by_tag_section_and_status() -> None:
    seed_host("prod-1", tags=("prod",), warn={"5": 2})
    seed_host("prod-2", tags=("prod",), warn={"2": 1})
    seed_host("dev-1", tags=("dev",), warn={})
    make_host("new-1", tags=("prod",))
    failed = seed_host("broken-1", warn={"5": 1})
    make_scan(failed, status=Scan.Status.FAILED, score=None, when=timezone.now() + DAY, error="boom")

    def names(**filters: str) -> list[str]:
        return [r.host.name for r in queries.fleet_overview(**filters).rows]

    assert names(tag="prod") == ["new-1", "prod-1", "prod-2"]
    assert names(section="5", status="warn") == ["broken-1", "prod-1"]
    assert names(tag="prod", status="clean", section="5") == ["prod-2"]
    assert names(status="clean") == ["dev-1"]
    assert names(status="never") == ["new-1"]
    assert names(status="failed") == ["broken-1"]
    assert [c.section for c in queries.fleet_overview(section="5").rows[0].cells] == ["5"]
    assert names(section="no-such", status="nonsense") == names()


@pytest.mark.parametrize(("hosts", "scans"), [(3, 1), (30, 2), (5, 20)])
def test_overview_runs_in_five_queries_whatever_the_fleet(django_assert_num_queries, hosts: int, scans: int) -> None:
    for i in range(hosts):
        seed_host(f"h{i:02d}", scans=scans, tags=("t",))

    # the number of matching hosts, the page's hosts, the tag list, the page's tags, their scores
    with django_assert_num_queries(5):
        data = queries.fleet_overview()
        assert len(data.rows) == hosts
        assert all(r.tags == ["t"] for r in data.rows)


def test_overview_pages_the_fleet_in_sql_with_the_same_queries_on_every_page(
    django_assert_num_queries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "HOSTS_PER_PAGE", 2)
    for i in range(5):
        seed_host(f"h{i}", scans=2, warn={"5": i})

    with django_assert_num_queries(5):
        data = queries.fleet_overview(page=2)
        assert [r.host.name for r in data.rows] == ["h2", "h3"]
    assert (data.total_hosts, data.page.number, data.page.paginator.num_pages) == (5, 2, 3)
    # The heat map scales to the page's highest count, as before: h3's 3 is this page's darkest.
    assert [r.cells[4].colour for r in data.rows] == [charts.heat_colour(2, 3), charts.heat_colour(3, 3)]
    assert all(r.sparkline.count(",") == 2 and (r.new, r.fixed) == (1, 1) for r in data.rows)
    assert [r.host.name for r in queries.fleet_overview(page="99").rows] == ["h4"]
    assert [r.host.name for r in queries.fleet_overview(page="x").rows] == ["h0", "h1"]
    assert [r.host.name for r in queries.fleet_overview(section="5", status="clean").rows] == ["h0"]
    assert queries.fleet_overview(section="5", status="warn", page=2).total_hosts == 4


def test_overview_sparkline_is_the_last_scores_even_with_scans_at_the_same_instant() -> None:
    host = make_host("web-1")
    start = timezone.now() - 40 * DAY
    count = queries.SPARKLINE_SCANS + 4
    for i in range(count):
        # The five oldest share one instant: the SPARKLINE_SCANS-th newest scan's, which the others precede by id.
        when = start + max(i, count - queries.SPARKLINE_SCANS) * DAY
        make_scan(host, score=10 + i, when=when)
    make_scan(host, status=Scan.Status.FAILED, score=None, when=timezone.now(), error="boom")

    (row,) = queries.fleet_overview().rows

    first, last = 10 + count - queries.SPARKLINE_SCANS, 10 + count - 1
    assert f"score trend over {queries.SPARKLINE_SCANS} scans: {first} to {last}" in row.sparkline
    assert getattr(row.host, "newest_status") == Scan.Status.FAILED  # noqa: B009 - an annotation


def test_findings_group_results_per_check_with_the_verdict_first() -> None:
    host = make_host()
    scan = make_scan(host)
    make_result(scan, "5.4", "PASS", object_name="ok", seq=1)
    make_result(scan, "5.4", "WARN", object_name="bad", seq=2)
    make_result(scan, "2.1", "PASS", seq=3)
    make_result(scan, "1.1.1", "SKIP", seq=4)
    make_result(scan, "5.10", "ERROR", seq=5)
    make_result(scan, "5.10", "SKIP", seq=6)

    sections = {b.key: b for b in queries.scan_findings(scan)}

    assert list(sections) == ["1", "2", "3", "4", "5", "6", "7"]
    check_54, check_510 = sections["5"].checks
    assert (check_54.check_id, check_54.verdict, check_54.counts) == ("5.4", "WARN", {"PASS": 1, "WARN": 1})
    assert [r.object_name for r in check_54.results] == ["bad", "ok"]
    assert check_54.rec is not None and check_54.rec.remediation
    assert check_510.verdict == "ERROR"
    assert sections["5"].counts == {"WARN": 1, "ERROR": 1}
    assert sections["1"].checks[0].verdict == "SKIP"
    assert [c.check_id for b in queries.scan_findings(scan, status="WARN") for c in b.checks] == ["5.4"]
    only_5 = queries.scan_findings(scan, section="5")
    assert [b.key for b in only_5] == ["5"]


def test_findings_show_a_bounded_number_of_objects_per_check_unless_asked_for_one() -> None:
    scan = make_scan(make_host())
    for i in range(queries.OBJECTS_PER_GROUP + 5):
        make_result(scan, "5.4", object_name=f"c{i}", seq=i + 1)

    (check,) = [c for b in queries.scan_findings(scan) for c in b.checks]
    assert (check.shown, check.objects) == (queries.OBJECTS_PER_GROUP, queries.OBJECTS_PER_GROUP + 5)
    assert check.results[0].object_name == "c0"

    (one,) = [c for b in queries.scan_findings(scan, check="5.4") for c in b.checks]
    assert one.shown == queries.OBJECTS_PER_GROUP + 5


@pytest.mark.parametrize("scans", [1, 20])
def test_host_page_runs_in_five_queries_whatever_the_history(django_assert_num_queries, scans: int) -> None:
    host = seed_host("web-1", scans=scans)
    host = Host.objects.select_related("latest__scan").get(pk=host.pk)

    # newest scan, history, result counts, result rows, scan list count, scan list page
    with django_assert_num_queries(6):
        data = queries.host_page(host)
        assert len(data.history) == scans
        assert len(list(data.scans)) == min(scans, queries.SCANS_PER_PAGE)


def test_host_page_knows_the_active_scan_and_history_is_oldest_first() -> None:
    host = seed_host("web-1", scans=3)
    running = make_scan(host, status=Scan.Status.RUNNING, when=timezone.now() + DAY)

    data = queries.host_page(Host.objects.get(pk=host.pk))

    assert data.active == running
    assert [score for _, score in data.history] == [50, 51, 52]
    assert data.scan == LatestScan.of(host)


def test_check_fleet_lists_hosts_and_objects_from_each_latest_scan(django_assert_num_queries) -> None:
    seed_host("a-host")
    clean = make_host("clean-host")
    make_result(make_scan(clean), "5.4", "PASS")
    other = make_host("no-result")
    make_result(make_scan(other), "2.1", "WARN")
    make_host("never-scanned")

    with django_assert_num_queries(3):
        data = queries.check_fleet("5.4")
        rows = [(r.host.name, r.verdict, [x.object_name for x in r.results]) for r in data.hosts]

    assert rows == [("a-host", "WARN", ["a", "c", "d"]), ("clean-host", "PASS", [""])]
    assert data.verdicts == {"WARN": 1, "PASS": 1}
    assert data.not_run == 1
    assert [r.host.name for r in queries.check_fleet("5.4", status="WARN").hosts] == ["a-host"]


def test_drift_explains_empty_diffs_and_puts_suspicious_containers_first() -> None:
    host = make_host()
    old = make_scan(host, when=timezone.now() - DAY)
    make_diff(old, "ignored-old-scan", changes=[["A", "/old"]])
    scan = make_scan(host)
    make_diff(scan, "a-readonly", read_only=True)
    make_diff(scan, "b-stopped", running=False)
    make_diff(scan, "c-plain", changes=[["C", "/tmp"]])
    make_diff(
        scan,
        "d-evil",
        changes=[["A", "/usr/bin/nc"], ["C", "/tmp"]],
        new_since_previous=[["A", "/usr/bin/nc"]],
        suspicious=[{"kind": "A", "path": "/usr/bin/nc", "reason": "new executable"}],
    )

    drift = queries.container_drift(Host.objects.get(pk=host.pk))

    assert [d.diff.container_name for d in drift] == ["d-evil", "a-readonly", "b-stopped", "c-plain"]
    assert drift[0].new == [("A", "/usr/bin/nc")]
    assert "read-only" in drift[1].why_empty
    assert "not running" in drift[2].why_empty
    suspicious = queries.container_drift(host, show="suspicious")
    assert [d.diff.container_name for d in suspicious] == ["d-evil"]


def test_drift_caps_the_changes_shown() -> None:
    host = make_host()
    scan = make_scan(host)
    make_diff(scan, "big", changes=[["A", f"/data/{i}"] for i in range(queries.CHANGES_SHOWN + 7)])

    (drift,) = queries.container_drift(Host.objects.get(pk=host.pk))

    assert (len(drift.changes), drift.hidden_changes) == (queries.CHANGES_SHOWN, 7)
