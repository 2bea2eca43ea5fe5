"""The PDF reports, read back with poppler (pdftotext, pdftoppm) as a reader would see them."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, date, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from dockerbench import __version__
from hosts.models import Host
from reports import documents, queries
from reports.documents import (
    ReportRequest,
    ReportTooLarge,
    StaticFetcher,
    base_url,
    render_html,
    render_report,
)
from scans import rollups
from scans.models import FleetDay, LatestScan, Scan, Waiver
from scans.tests.factories import make_diff, make_host, make_result, make_scan, track
from scans.waivers import apply_waivers

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
HOSTILE = "<script>alert(1)</script>"
HOSTILE_HOST = "evil<b>&\"host'"


def pdf_text(pdf: bytes, tmp_path: Path, *, first: int = 1, last: int = 0) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    args = ["/usr/bin/pdftotext", "-layout", "-f", str(first)]
    if last:
        args += ["-l", str(last)]
    out = subprocess.run([*args, str(path), "-"], check=True, capture_output=True, text=True)
    return out.stdout


def nightly(host: Host, nights: int, *, score: int, warn: dict[str, int], results: tuple[tuple[str, ...], ...]) -> Scan:
    """``nights`` nightly scans up to an hour ago, each reporting ``results`` through the real tracker."""
    now = timezone.now() - timedelta(hours=1)
    scan = None
    for i in range(nights):
        scan = make_scan(host, score=score, when=now - (nights - 1 - i) * DAY, warn_by_section=warn)
        track(scan, *results)
    assert scan is not None
    return scan


@pytest.fixture
def fleet() -> dict[str, Host]:
    web = make_host("web-1", tags=("prod",))
    db = make_host("db-1", tags=("staging",))
    evil = make_host(HOSTILE_HOST, tags=("prod",))
    make_host("never-scanned")
    # web-1 had a.example fixed at its second night and opened the hostile container at its third.
    now = timezone.now() - timedelta(hours=1)
    first = make_scan(web, score=70, when=now - 2 * DAY, warn_by_section={"5": 2})
    track(first, ("5.4", "WARN", "container", "a.example"), ("2.1", "WARN", "", ""))
    second = make_scan(web, score=75, when=now - DAY, warn_by_section={"5": 1, "2": 1})
    track(second, ("5.4", "PASS", "container", "a.example"), ("2.1", "WARN", "", ""))
    latest = make_scan(web, score=92, when=now, warn_by_section={"5": 1, "2": 1})
    track(
        latest,
        ("5.4", "WARN", "container", HOSTILE, "runs privileged & more"),
        ("5.4", "PASS", "container", "a.example"),
        ("2.1", "WARN", "", ""),
    )
    make_diff(
        latest,
        HOSTILE,
        image='img"quoted"',
        labels={"x": HOSTILE},
        suspicious=[{"path": "/usr/bin/<nc>", "kind": "A", "reason": "an executable added"}],
        new_since_previous=[["A", "/usr/bin/<nc>"]],
    )
    nightly(db, 2, score=65, warn={"4": 1}, results=(("4.1", "WARN", "image", "app:1"),))
    nightly(evil, 1, score=40, warn={"5": 1}, results=(("5.10", "WARN", "container", "evil-c"),))
    Waiver.objects.create(
        check_id="2.1",
        host=web,
        reason='legacy <i>daemon</i> & "quotes"',
        owner="Alice O'Neil",
        expires=timezone.now().date() + timedelta(days=20),
    )
    apply_waivers([web.pk])
    today = timezone.now().astimezone(UTC).date()
    rollups.rollup(Scan, FleetDay, [today - timedelta(days=n) for n in range(4)])
    return {"web": web, "db": db, "evil": evil}


def test_it_lists_every_host_with_its_grade(fleet: dict[str, Host], tmp_path: Path) -> None:
    rendered = render_report(ReportRequest(kind="fleet"))
    text = pdf_text(rendered.pdf, tmp_path)
    for name in ("web-1", "db-1", HOSTILE_HOST, "never-scanned"):
        assert name in text
    body = "\f".join(text.split("\f")[2:])  # after the cover and the contents
    hosts_page = body[body.index("Every host") :]
    assert re.search(r"web-1.*\b92\b.*\bA\b", hosts_page)
    assert re.search(r"db-1.*\b65\b.*\bD\b", hosts_page)
    assert re.search(r"never-scanned.*none in the period", hosts_page)
    assert rendered.pages >= 5
    assert rendered.title.startswith("Fleet report, ")


def test_its_host_table_links_each_host_once_and_not_each_cell(fleet: dict[str, Host]) -> None:
    html, _ = render_html(ReportRequest(kind="fleet"))
    table = html[html.index('id="hosts"') : html.index('id="colophon"')]
    web = fleet["web"].pk
    assert table.count(f'href="/fleet/hosts/{web}/"') == 1
    assert "?section=" not in table  # the overview's per-cell links cost the PDF 0.12 MB a row
    assert re.search(r'<td class="heat heat-\d">1</td>', table)


def test_its_ua_sheet_keeps_list_markers_and_drops_the_per_element_pseudo_styles(
    fleet: dict[str, Host], tmp_path: Path
) -> None:
    # WeasyPrint 70's UA sheet styles six pseudo-elements of every element; a new WeasyPrint fails here first.
    sheet = documents.report_ua()
    assert "\nli::marker {" in sheet
    assert not re.search(r"^::", sheet, re.M)
    summary = pdf_text(render_report(ReportRequest(kind="fleet")).pdf, tmp_path, first=3, last=3)
    assert re.search(r"•\s+4 hosts", summary)  # list items keep their bullets


def test_it_names_its_version_and_the_scans_it_was_made_from(fleet: dict[str, Host], tmp_path: Path) -> None:
    rendered = render_report(ReportRequest(kind="fleet"))
    assert rendered.scan_ids == sorted(LatestScan.objects.values_list("scan_id", flat=True))
    assert len(rendered.scan_ids) == 3
    text = pdf_text(rendered.pdf, tmp_path)
    assert f"dockerbench {__version__}" in text
    for scan_id in rendered.scan_ids:
        assert f"#{scan_id}" in text


def test_its_contents_link_to_numbered_pages(fleet: dict[str, Host], tmp_path: Path) -> None:
    rendered = render_report(ReportRequest(kind="fleet"))
    contents = pdf_text(rendered.pdf, tmp_path, first=2, last=2)
    pages = {m[1]: int(m[2]) for m in re.finditer(r"^\s*(Executive summary|Every host)\s*\.+\s*(\d+)", contents, re.M)}
    assert pages["Executive summary"] == 3
    assert pages["Every host"] > pages["Executive summary"]
    assert f"2 / {rendered.pages}" in contents
    # Each part is a named destination of the PDF, which the contents' links point at.
    path = tmp_path / "dests.pdf"
    path.write_bytes(rendered.pdf)
    dests = subprocess.run(["/usr/bin/pdfinfo", "-dests", str(path)], check=True, capture_output=True, text=True)
    for part in ("summary", "trends", "risks", "sections", "changes", "waivers", "drift", "hosts", "colophon"):
        assert re.search(rf'"{part}"', dests.stdout), part
    every_host = pdf_text(rendered.pdf, tmp_path, first=pages["Every host"], last=pages["Every host"])
    assert "Every host" in every_host


def test_hostile_strings_come_out_as_text(fleet: dict[str, Host], tmp_path: Path) -> None:
    html, _ = render_html(ReportRequest(kind="fleet"))
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    fleet_text = pdf_text(render_report(ReportRequest(kind="fleet")).pdf, tmp_path)
    assert HOSTILE in fleet_text  # the drift highlights' container name
    assert HOSTILE_HOST in fleet_text
    assert "/usr/bin/<nc>" in fleet_text
    host_text = pdf_text(render_report(ReportRequest(kind="host", host_id=fleet["web"].pk)).pdf, tmp_path)
    assert HOSTILE in host_text
    assert "runs privileged & more" in host_text
    assert 'legacy <i>daemon</i> & "quotes"' in " ".join(host_text.split())
    assert "Alice O'Neil" in host_text


def test_a_report_fetches_nothing_but_its_own_static_files() -> None:
    fetcher = StaticFetcher()
    css = fetcher.fetch(base_url() + "static/css/report.css")
    assert b"@page" in css.read()
    for url in (
        "https://example.com/x.css",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "data:text/css,body{}",
        base_url() + "static/../config/settings.py",
        base_url() + "fleet/",
    ):
        with pytest.raises(ValueError, match="only its own static files"):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 6


def test_its_first_pages_render_as_images(fleet: dict[str, Host], tmp_path: Path) -> None:
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_report(ReportRequest(kind="fleet")).pdf)
    subprocess.run(
        ["/usr/bin/pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "3", str(pdf), str(tmp_path / "p")], check=True
    )
    images = sorted(tmp_path.glob("p-*.png"))
    assert len(images) == 3
    for image in images:
        with Image.open(BytesIO(image.read_bytes())) as im:
            darkest, _ = im.convert("L").getextrema()
            assert isinstance(darkest, int) and darkest < 128, f"{image.name} is blank"


def test_a_tag_keeps_only_its_hosts(fleet: dict[str, Host], tmp_path: Path) -> None:
    rendered = render_report(ReportRequest(kind="fleet", tag="prod"))
    text = pdf_text(rendered.pdf, tmp_path)
    assert "web-1" in text and HOSTILE_HOST in text
    assert "db-1" not in text and "never-scanned" not in text
    assert "the hosts tagged prod: 2 hosts" in text
    assert rendered.title.startswith("Fleet report, tag prod, ")
    assert set(rendered.scan_ids) == {fleet["web"].latest.scan_id, fleet["evil"].latest.scan_id}


def test_sections_keep_only_their_checks(fleet: dict[str, Host], tmp_path: Path) -> None:
    everything = pdf_text(render_report(ReportRequest(kind="host", host_id=fleet["web"].pk)).pdf, tmp_path)
    assert "2.1" in everything and "5.4" in everything
    only_5 = pdf_text(render_report(ReportRequest(kind="host", host_id=fleet["web"].pk, sections=("5",))).pdf, tmp_path)
    assert "5.4" in only_5
    assert "2.1" not in only_5
    assert "2. Docker daemon configuration" not in only_5
    assert "5. Container Runtime" in only_5


def test_the_period_decides_which_scan_is_now(fleet: dict[str, Host], tmp_path: Path) -> None:
    web = fleet["web"]
    scans = list(Scan.objects.filter(host=web).order_by("created"))
    yesterday = scans[1].created.astimezone(UTC).date()
    rendered = render_report(ReportRequest(kind="host", host_id=web.pk, since=yesterday, until=yesterday))
    assert rendered.scan_ids == [scans[1].pk]
    text = pdf_text(rendered.pdf, tmp_path)
    assert HOSTILE not in text  # opened by the scan after the period
    assert "a.example" in text  # fixed in the period
    long_ago = render_report(ReportRequest(kind="fleet", since=date(2001, 1, 1), until=date(2001, 1, 31)))
    assert long_ago.scan_ids == []
    assert "not scanned in it" in pdf_text(long_ago.pdf, tmp_path)


def test_new_and_fixed_in_the_period_leave_out_a_first_scan(fleet: dict[str, Host]) -> None:
    today = timezone.now().astimezone(UTC).date()
    data = queries.fleet_report(period=queries.Period(today - 5 * DAY, today), sections=["1", "2", "4", "5", "S"])
    by_check = {c.check_id: (c.new, c.fixed) for c in data.changes}
    # web-1's first scan opened 5.4 on a.example and 2.1, db-1's and evil's first scans theirs: none is news.
    assert by_check == {"5.4": (1, 1)}
    assert (data.new_total, data.fixed_total) == (1, 1)


def test_it_lists_every_finding_of_the_host_with_evidence_and_remediation(tmp_path: Path) -> None:
    host = make_host("big-1")
    scan = make_scan(host, score=50, warn_by_section={"5": 1})
    for i in range(40):  # more than the host page shows per check (OBJECTS_PER_GROUP)
        make_result(scan, "5.4", "WARN", object_kind="container", object_name=f"c-{i:02}", evidence={"Privileged": i})
    rendered = render_report(ReportRequest(kind="host", host_id=host.pk))
    text = pdf_text(rendered.pdf, tmp_path)
    body = "\f".join(text.split("\f")[2:])
    findings = body[body.index("Every finding") :]
    for i in range(40):
        assert f"c-{i:02}" in findings
    assert '"Privileged": 39' in findings
    assert "How to fix it" in findings


def test_a_report_too_large_says_how_big_the_limit_and_how_to_narrow_it(fleet: dict[str, Host], settings) -> None:
    settings.DOCKERBENCH_REPORT_MAX_ROWS = 3
    with pytest.raises(ReportTooLarge) as fleet_error:
        render_report(ReportRequest(kind="fleet"))
    message = str(fleet_error.value)
    assert re.search(r"would have \d+ rows", message)
    assert "the limit is 3 (DOCKERBENCH_REPORT_MAX_ROWS)" in message
    assert "a tag" in message and "fewer sections" in message and "shorter period" in message
    with pytest.raises(ReportTooLarge, match="fewer sections"):
        render_report(ReportRequest(kind="host", host_id=fleet["web"].pk))


def test_it_reports_progress_phase_by_phase(fleet: dict[str, Host]) -> None:
    seen: list[tuple[str, int, int]] = []
    render_report(ReportRequest(kind="fleet"), progress=lambda phase, done, total: seen.append((phase, done, total)))
    phases = [phase for phase, _, _ in seen]
    assert phases[0] == "Gathering data" and phases[-1] == "Writing the PDF"
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == [
        "Gathering data",
        "Laying out pages",
        "Writing the PDF",
    ]
    assert seen[-1] == ("Writing the PDF", 1, 1)


def test_the_fleet_data_takes_a_fixed_number_of_queries(fleet: dict[str, Host], django_assert_num_queries) -> None:
    today = timezone.now().astimezone(UTC).date()
    period = queries.Period(today - 30 * DAY, today)
    sections = ["1", "2", "3", "4", "5", "6", "7", "S"]
    with django_assert_num_queries(8):
        queries.fleet_report(period=period, sections=sections)
    with django_assert_num_queries(8):  # with a tag the trend is summed from the scans, still one query
        queries.fleet_report(period=period, tag="prod", sections=sections)
    for n in range(5):
        nightly(
            make_host(f"more-{n}", tags=("prod",)),
            2,
            score=80,
            warn={"5": 1},
            results=(("5.4", "WARN", "container", "x"),),
        )
    with django_assert_num_queries(8):
        queries.fleet_report(period=period, tag="prod", sections=sections)


def test_the_host_data_takes_a_fixed_number_of_queries(fleet: dict[str, Host], django_assert_num_queries) -> None:
    today = timezone.now().astimezone(UTC).date()
    host = Host.objects.select_related("latest").get(pk=fleet["web"].pk)
    with django_assert_num_queries(10):
        report = queries.host_report(host, period=queries.Period(today - 30 * DAY, today), sections=["2", "5"])
    assert report.current
    assert {c.check_id for c in report.attention} == {"2.1", "5.4"}


def test_a_request_round_trips_through_its_params() -> None:
    request = ReportRequest(
        kind="fleet", tag=" prod ", since=date(2026, 11, 1), until=date(2026, 12, 1), sections=("S", "5", "1", "5")
    )
    assert request.sections == ("1", "5", "S")
    assert request.tag == "prod"
    assert request.params() == {
        "kind": "fleet",
        "host_id": None,
        "tag": "prod",
        "since": "2026-11-01",
        "until": "2026-12-01",
        "sections": ["1", "5", "S"],
    }
    assert ReportRequest.from_params(request.params()) == request
    assert request.title() == "Fleet report, tag prod, sections 1, 5, S, 2026-11-01 to 2026-12-01"
    default = ReportRequest(kind="fleet")
    period = default.period()
    assert period.until == timezone.now().astimezone(UTC).date()
    assert period.since == period.until - timedelta(days=30)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "weekly"}, "kind must be 'fleet' or 'host'"),
        ({"kind": "host"}, "needs the host's id"),
        ({"kind": "fleet", "host_id": 3}, "takes no host_id"),
        ({"kind": "fleet", "since": "2026-13-01"}, "since must be a date as YYYY-MM-DD"),
        ({"kind": "fleet", "since": "2026-12-02", "until": "2026-12-01"}, "is after until"),
        ({"kind": "fleet", "sections": ["5", "9"]}, "unknown section 9"),
        ({"kind": "fleet", "sections": "5"}, "must be a list"),
        ({"kind": "fleet", "colour": "red"}, "unknown report parameter colour"),
    ],
)
def test_bad_params_say_what_is_wrong(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ReportRequest.from_params(params)


def test_a_host_report_of_a_deleted_host_says_so() -> None:
    with pytest.raises(ValueError, match="host #999999 does not exist"):
        render_report(ReportRequest(kind="host", host_id=999999))
    assert ReportRequest(kind="host", host_id=999999).title().startswith("Host report, host #999999, ")


def test_the_host_report_title_names_the_host(fleet: dict[str, Host]) -> None:
    request = ReportRequest(kind="host", host_id=fleet["db"].pk, since=date(2026, 11, 1), until=date(2026, 11, 30))
    assert request.title() == "Host report, db-1, 2026-11-01 to 2026-11-30"
