"""A scan's exports: the engine's SARIF, JUnit XML, CSV and JSON reports, from what the scan reported."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET  # noqa: S405 - parsing our own output in a test
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dockerbench.runner import evaluate
from dockerbench.snapshot import HostSnapshot
from hosts.models import Host
from scans import exports, services, waivers
from scans.models import Scan, Waiver
from scans.tests.factories import make_host, make_result, make_scan
from tests.personas import persona_client

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "dockerbench/tests/fixtures/hosts"
SARIF_SCHEMA = json.loads((REPO / "tests/vendor/sarif/sarif-schema-2.1.0.json").read_text())
SARIF_VALIDATOR = jsonschema.Draft7Validator(SARIF_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
HOSTILE = 'évil"; filename=x.exe\r\n/../..\\<img src=x onerror=alert(1)>'


def record(host: Host, fixture: str = "misconfigured", *, when: Any = None) -> Scan:
    """A finished scan of ``host`` with the engine's real results on a fixture snapshot (as test_browser_a11y)."""
    snapshot = HostSnapshot.from_json((FIXTURES / f"{fixture}.json").read_text())
    scan = Scan.objects.create(host=host, status=Scan.Status.RUNNING, attempts=1, started=timezone.now())
    services.record_results(scan, snapshot, evaluate(snapshot))
    if when is not None:
        Scan.objects.filter(pk=scan.pk).update(created=when, started=when, finished=when + timedelta(seconds=4))
    scan.refresh_from_db()
    return scan


def waive(host: Host, check_id: str, **fields: Any) -> Waiver:
    waiver = Waiver.objects.create(
        check_id=check_id,
        host=host,
        reason="accepted for the lab",
        owner="ops",
        expires=timezone.now().date() + timedelta(days=30),
        **fields,
    )
    waivers.apply_waivers([host.pk])
    return waiver


@pytest.fixture
def viewer() -> Client:
    return persona_client("viewer")


def download(client: Client, scan: Scan, fmt: str) -> Any:
    return client.get(reverse("scans:scan-export", args=[scan.pk, fmt]))


def body(response: Any) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def count(element: ET.Element | None, name: str) -> int:
    assert element is not None
    return int(element.get(name) or 0)


def first_warn(scan: Scan) -> str:
    return scan.reported().filter(status="WARN").order_by("seq").values_list("check_id", flat=True)[0]


# -- each format parses and agrees with the scan's summary --------------------------------------------------


def test_the_sarif_export_matches_the_schema_and_counts_the_scans_warn_findings(viewer: Client) -> None:
    scan = record(make_host("web-1"))
    response = download(viewer, scan, "sarif")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/sarif+json"
    assert response["Content-Disposition"] == f'attachment; filename="dockerbench-web-1-scan-{scan.pk}.sarif"'
    doc = json.loads(body(response))
    errors = sorted(SARIF_VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    run = doc["runs"][0]
    assert len(run["results"]) == scan.summary["findings"]["WARN"]
    assert run["properties"]["score"] == scan.score
    assert run["properties"]["host"]["name"] == "web-1"
    assert run["properties"]["host"]["target"] == scan.host.url


def test_the_junit_export_has_a_testcase_per_check_and_the_scans_verdicts(viewer: Client) -> None:
    scan = record(make_host("web-1"))
    response = download(viewer, scan, "junit")
    assert response.status_code == 200 and response["Content-Type"] == "application/xml; charset=utf-8"
    root = ET.fromstring(body(response).encode())  # noqa: S314 - our own output
    by_status = scan.summary["by_status"]
    assert count(root, "tests") == scan.summary["checks"] == len(root.findall(".//testcase"))
    assert count(root, "failures") == by_status.get("WARN", 0)
    assert count(root, "errors") == by_status.get("ERROR", 0)
    assert count(root, "skipped") == by_status.get("SKIP", 0)


def test_the_csv_export_has_a_row_per_reported_result(viewer: Client) -> None:
    scan = record(make_host("web-1"))
    response = download(viewer, scan, "csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(body(response), newline="")))
    assert len(rows) == sum(scan.summary["findings"].values()) == scan.reported().count()
    counted: dict[str, int] = {}
    for row in rows:
        counted[row["status"]] = counted.get(row["status"], 0) + 1
    assert counted == scan.summary["findings"]


def test_the_json_export_is_the_engines_report_with_the_scans_summary(viewer: Client) -> None:
    scan = record(make_host("web-1"))
    doc = json.loads(body(download(viewer, scan, "json")))
    assert doc["schema"] == "dockerbench.report/1"
    for key in ("checks", "by_status", "findings", "sections", "judged", "passed"):
        assert doc["summary"][key] == scan.summary[key], key
    assert doc["summary"]["score"] == scan.score
    assert scan.finished is not None
    assert doc["host"]["collected_at"] == scan.finished.astimezone(UTC).isoformat(timespec="seconds")


# -- waivers ------------------------------------------------------------------------------------------------


def test_a_waived_finding_is_suppressed_in_sarif_and_marked_in_csv(viewer: Client) -> None:
    host = make_host("web-1")
    scan = record(host)
    check_id = first_warn(scan)
    waive(host, check_id)
    sarif = json.loads(body(download(viewer, scan, "sarif")))
    mine = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == check_id]
    others = [r for r in sarif["runs"][0]["results"] if r["ruleId"] != check_id]
    assert mine and all(r["suppressions"][0]["status"] == "accepted" for r in mine)
    assert mine[0]["suppressions"][0]["justification"] == "accepted for the lab"
    assert others and not any("suppressions" in r for r in others)
    rows = list(csv.DictReader(io.StringIO(body(download(viewer, scan, "csv")), newline="")))
    marked = [r for r in rows if r["waiver"]]
    assert marked and all(r["check_id"] == check_id and r["status"] == "WARN" for r in marked)
    assert marked[0]["waiver"].startswith("waived until ") and "accepted for the lab, owner ops" in marked[0]["waiver"]
    junit = ET.fromstring(body(download(viewer, scan, "junit")).encode())  # noqa: S314 - our own output
    assert count(junit, "failures") == scan.summary["by_status"]["WARN"] - 1  # the waived check passes


def test_an_older_scan_carries_the_waivers_in_force_when_it_finished(viewer: Client) -> None:
    host = make_host("web-1")
    now = timezone.now()
    old = record(host, when=now - timedelta(days=3))
    warns = list(dict.fromkeys(old.reported().filter(status="WARN").order_by("seq").values_list("check_id", flat=True)))
    then, revoked, after = warns[:3]
    Waiver.objects.filter(pk=waive(host, then).pk).update(created=now - timedelta(days=4))
    Waiver.objects.filter(pk=waive(host, revoked).pk).update(
        created=now - timedelta(days=4), revoked=now - timedelta(days=3, hours=12)
    )
    waive(host, after)  # made after the old scan finished: it does not reach back
    record(host)  # the old scan is no longer the host's latest
    sarif = json.loads(body(download(viewer, old, "sarif")))
    suppressed = {r["ruleId"] for r in sarif["runs"][0]["results"] if r.get("suppressions")}
    assert suppressed == {then}


# -- hostile names and unfinished scans ---------------------------------------------------------------------


def test_a_hostile_host_name_gives_a_safe_filename_and_escaped_content(viewer: Client) -> None:
    host = make_host(HOSTILE)
    scan = make_scan(host, warn_by_section={"5": 1})
    make_result(scan, "5.4", object_kind="container", object_name="=cmd|' /C calc'!A0", message=HOSTILE)
    for fmt, ext in (("sarif", "sarif"), ("junit", "xml"), ("csv", "csv"), ("json", "json")):
        response = download(viewer, scan, fmt)
        assert response.status_code == 200
        name = f"dockerbench-evil-filename-x.exe-img-src-x-onerror-alert-1-scan-{scan.pk}.{ext}"
        assert "\n" not in response["Content-Disposition"]
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert exports.export_filename("\n\n", 7, "csv") == "dockerbench-host-scan-7.csv"
    assert exports.export_filename("../..", 7, "csv") == "dockerbench-host-scan-7.csv"
    junit = ET.fromstring(body(download(viewer, scan, "junit")).encode())  # noqa: S314 - our own output
    suite, failure = junit.find("testsuite"), junit.find(".//failure")
    assert suite is not None and failure is not None
    assert suite.get("hostname") == HOSTILE
    assert HOSTILE.split("\r")[0] in (failure.text or "")
    sarif = json.loads(body(download(viewer, scan, "sarif")))
    assert sarif["runs"][0]["properties"]["host"]["name"] == HOSTILE
    row = next(csv.DictReader(io.StringIO(body(download(viewer, scan, "csv")), newline="")))
    assert row["object_name"] == "'=cmd|' /C calc'!A0"  # defused for spreadsheets
    assert row["message"] == HOSTILE


@pytest.mark.parametrize("status", [Scan.Status.FAILED, Scan.Status.CANCELLED, Scan.Status.RUNNING])
def test_a_scan_without_results_answers_a_clear_404(status: str, viewer: Client) -> None:
    scan = make_scan(make_host(), status=status)
    response = download(viewer, scan, "sarif")
    assert response.status_code == 404
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert f"Scan #{scan.pk} has no results to export" in response.content.decode()


def test_a_scan_that_reported_nothing_answers_a_clear_404(viewer: Client) -> None:
    scan = make_scan(make_host())
    response = download(viewer, scan, "csv")
    assert response.status_code == 404
    assert response.content.decode() == f"Scan #{scan.pk} reported nothing to export."


def test_an_unknown_format_is_404_and_the_service_refuses_it(viewer: Client) -> None:
    scan = make_scan(make_host())
    make_result(scan, "5.4")
    assert download(viewer, scan, "pdf").status_code == 404
    assert download(viewer, scan, "text").status_code == 404
    with pytest.raises(ValueError, match="unknown export format"):
        exports.export_scan(scan, "xlsx")


# -- queries ------------------------------------------------------------------------------------------------


def test_an_export_takes_a_fixed_number_of_queries_whatever_the_scan_size(django_assert_num_queries: Any) -> None:
    small = make_scan(make_host("small"))
    make_result(small, "5.4", object_kind="container", object_name="web")
    big = record(make_host("big"))
    waive(big.host, first_warn(big))
    assert big.reported().count() > 50 * small.reported().count()
    for scan in (small, big):
        loaded = Scan.objects.select_related("host").get(pk=scan.pk)
        with django_assert_num_queries(2):  # is it the latest, then the sightings with their waivers
            exports.export_scan(loaded, "sarif")
    host = make_host("history")
    old_small = make_scan(host, when=timezone.now() - timedelta(days=2))
    make_result(old_small, "5.4")
    old_big = record(host, when=timezone.now() - timedelta(days=1))
    record(host)
    for scan in (old_small, old_big):
        loaded = Scan.objects.select_related("host").get(pk=scan.pk)
        with django_assert_num_queries(3):  # and the waivers in force then
            exports.export_scan(loaded, "csv")


# -- the pages link to it -----------------------------------------------------------------------------------


def test_the_scan_page_and_the_host_page_link_the_exports_of_the_scan_shown(viewer: Client) -> None:
    host = make_host("web-1")
    older = make_scan(host, when=timezone.now() - timedelta(days=1))
    make_result(older, "5.4")
    latest = make_scan(host)
    make_result(latest, "5.4")
    client = viewer
    for url, scan in ((reverse("scans:host", args=[host.pk]), latest), (reverse("scans:scan", args=[older.pk]), older)):
        page = client.get(url).content.decode()
        assert '<p class="export-links no-print">Export:' in page
        for fmt, label in (("sarif", "SARIF"), ("junit", "JUnit"), ("csv", "CSV"), ("json", "JSON")):
            assert f'href="{reverse("scans:scan-export", args=[scan.pk, fmt])}" download>{label}</a>' in page


def test_a_failed_scan_page_offers_no_export(viewer: Client) -> None:
    host = make_host("web-1")
    failed = make_scan(host, status=Scan.Status.FAILED, error="unreachable")
    page = viewer.get(reverse("scans:scan", args=[failed.pk])).content.decode()
    assert "export-links" not in page


def test_the_exports_take_the_filters_of_the_page(viewer: Client) -> None:
    scan = record(make_host("web-1"))
    host_page = reverse("scans:host", args=[scan.host_id])
    page = viewer.get(f"{host_page}?section=5&status=WARN&page=2").content.decode()
    assert "Export what the filters show:" in page
    link = f"{reverse('scans:scan-export', args=[scan.pk, 'csv'])}?status=WARN&amp;section=5"
    assert f'href="{link}" download>CSV</a>' in page
    rows = list(csv.DictReader(io.StringIO(body(viewer.get(link.replace("&amp;", "&"))), newline="")))
    shown = {
        check_id
        for check_id, status in scan.reported().values_list("check_id", "status")
        if check_id.startswith("5.") and status == "WARN"
    }
    assert rows and {r["check_id"] for r in rows} == shown  # the checks whose verdict is WARN, every result of them
    assert {r["section"] for r in rows} == {"5"}
    one = list(csv.DictReader(io.StringIO(body(viewer.get(f"{link.split('?')[0]}?check=2.2")), newline="")))
    assert {r["check_id"] for r in one} == {"2.2"}
