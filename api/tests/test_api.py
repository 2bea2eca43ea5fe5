"""The API's resources at work: tokens, hosts with write-only credentials, scans and their exports,
findings' filters, waivers, reports, errors, paging and rate limits."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api import services
from api.models import ApiToken
from api.tests.conftest import token_client
from dockerbench import risk
from hosts.models import Host
from reports.models import Report
from scans.models import Finding, Waiver
from scans.tests.factories import make_host, make_result, make_scan
from tests.personas import make_user, persona_client

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads((REPO / "tests/vendor/sarif/sarif-schema-2.1.0.json").read_text())
VULNS = REPO / "dockerbench/tests/fixtures/vulns"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


# -- tokens ------------------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_kept() -> None:
    client = persona_client("viewer")
    page = client.post(reverse("api:tokens"), {"name": "ci", "scope": "read", "expires": _days(30)})
    assert page.status_code == 200
    html = page.content.decode()
    token = ApiToken.objects.get(name="ci")
    plaintext = html.split('id="new-token-value">')[1].split("<")[0]
    assert plaintext.startswith("dbk_") and len(plaintext) > 40
    assert token.key_hash != plaintext and plaintext not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert "no-store" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]
    again = client.get(reverse("api:tokens")).content.decode()
    assert plaintext not in again and f"dbk_{token.hint}…" in again
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api.get("/api/v1/hosts/").status_code == 200
    token.refresh_from_db()
    assert token.last_used is not None


def test_a_revoked_or_expired_token_opens_nothing() -> None:
    user = make_user("operator")
    token, plaintext = services.create_token(
        user, name="ci", scope="write", expires=timezone.now().date() + timedelta(days=1)
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api.get("/api/v1/hosts/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now().date())
    refused = api.get("/api/v1/hosts/")
    assert refused.status_code == 401 and refused.json()["error"] == "authentication_failed"
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now().date() + timedelta(days=1))
    client = Client()
    assert user is not None
    client.force_login(user)
    assert client.post(reverse("api:token-revoke", args=[token.pk])).status_code == 302
    assert api.get("/api/v1/hosts/").status_code == 401
    for bad in ("Bearer", "Bearer dbk_nope", "Bearer a b", "Token not-ours"):
        api.credentials(HTTP_AUTHORIZATION=bad)
        assert api.get("/api/v1/hosts/").status_code == 401, bad


def test_one_cannot_revoke_someone_elses_token() -> None:
    owner = make_user("viewer")
    token, _plain = services.create_token(
        owner, name="mine", scope="read", expires=timezone.now().date() + timedelta(days=5)
    )
    other = persona_client("operator")
    assert other.post(reverse("api:token-revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked is None


def test_a_token_expires_within_the_limit(settings: Any) -> None:
    settings.DOCKERBENCH_API_TOKEN_MAX_DAYS = 30
    client = persona_client("viewer")
    page = client.post(reverse("api:tokens"), {"name": "ci", "scope": "read", "expires": _days(31)})
    assert "Tokens may run at most until" in page.content.decode()
    assert not ApiToken.objects.exists()


# -- hosts ---------------------------------------------------------------------------------------------------


def test_an_operator_adds_a_host_whose_credentials_never_come_back() -> None:
    api, _user = token_client("operator")
    response = api.post(
        "/api/v1/hosts/",
        {"name": "db-1", "url": "tcp://db-1.example.invalid:2376", "tags": ["prod", "eu"], "tls_ca_cert": PEM},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["tags"] == ["eu", "prod"]
    assert body["credentials"] == {
        "tls_ca_cert": True,
        "tls_client_cert": False,
        "tls_client_key": False,
        "ssh_private_key": False,
    }
    assert "BEGIN CERTIFICATE" not in response.content.decode()
    host = Host.objects.get(name="db-1")
    assert host.schedules.exists()  # the apps above reacted, as for a host added on the page
    # A partial change keeps what it does not name; "" clears a credential.
    changed = api.patch(f"/api/v1/hosts/{host.pk}/", {"enabled": False}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["credentials"]["tls_ca_cert"] is True and changed.json()["enabled"] is False
    assert changed.json()["tags"] == ["eu", "prod"]
    cleared = api.patch(f"/api/v1/hosts/{host.pk}/", {"tls_ca_cert": ""}, format="json")
    assert cleared.json()["credentials"]["tls_ca_cert"] is False


def test_the_host_rules_are_the_pages_rules() -> None:
    api, _user = token_client("operator")
    make_host("taken")
    response = api.post("/api/v1/hosts/", {"name": "taken", "url": "ftp://nope", "tls_client_cert": PEM}, format="json")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert response.json()["error"] == "invalid"
    assert set(detail) >= {"name", "url", "tls_client_key"}
    assert Host.objects.count() == 1


def test_hostile_names_come_back_as_data_not_markup() -> None:
    api, _user = token_client("operator")
    hostile = make_host("x")
    Host.objects.filter(pk=hostile.pk).update(name='<script>alert("x")</script>')
    body = api.get(f"/api/v1/hosts/{hostile.pk}/").json()
    assert body["name"] == '<script>alert("x")</script>'
    page = api.get(f"/api/v1/hosts/{hostile.pk}/", HTTP_ACCEPT="text/html")
    assert "<script>alert(" not in page.content.decode()


# -- scans ---------------------------------------------------------------------------------------------------


def test_starting_a_scan_queues_one_and_a_second_start_returns_it(world: dict[str, Any]) -> None:
    api, _user = token_client("operator")
    first = api.post("/api/v1/scans/", {"host": world["host"].pk}, format="json")
    assert first.status_code == 202 and first.json()["status"] == "queued" and first.json()["trigger"] == "api"
    again = api.post(f"/api/v1/hosts/{world['host'].pk}/scan/")
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    cancelled = api.post(f"/api/v1/scans/{first.json()['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"/api/v1/scans/{first.json()['id']}/cancel/").status_code == 409
    assert api.post("/api/v1/scans/", {"host": 999_999}, format="json").status_code == 400


def test_a_scan_reads_back_with_its_results_and_exports(world: dict[str, Any]) -> None:
    api, _user = token_client("viewer")
    scan = world["scan"]
    detail = api.get(f"/api/v1/scans/{scan.pk}/").json()
    assert detail["host_name"] == "web-1" and detail["summary"]["by_status"]
    results = api.get(f"/api/v1/scans/{scan.pk}/results/").json()
    assert results["count"] == 1
    assert results["results"][0]["check_id"] == "5.4" and results["results"][0]["object_name"] == "db"
    sarif = api.get(f"/api/v1/scans/{scan.pk}/export/sarif/", HTTP_ACCEPT="application/json")
    assert sarif.status_code == 200 and sarif["Content-Disposition"].startswith("attachment")
    document = json.loads(b"".join(sarif.streaming_content))
    jsonschema.validate(document, SARIF_SCHEMA)
    assert document["runs"][0]["results"][0]["ruleId"] == "5.4"
    junit = api.get(f"/api/v1/scans/{scan.pk}/export/junit/")
    assert b"<testsuites" in b"".join(junit.streaming_content)
    assert api.get(f"/api/v1/scans/{scan.pk}/export/pdf/").json()["error"] == "not_found"
    only = api.get(f"/api/v1/scans/{scan.pk}/export/csv/?section=2")
    assert b"".join(only.streaming_content).decode().count("\n") == 1  # the header: the scan has nothing in 2
    assert api.get(f"/api/v1/scans/{scan.pk}/export/csv/?section=99").json()["detail"]["section"]


# -- findings ------------------------------------------------------------------------------------------------


def test_findings_filter_by_host_tag_check_section_status_risk_and_waiver(world: dict[str, Any]) -> None:
    api, _user = token_client("viewer")
    other = make_host("other", tags=("dev",))
    scan = make_scan(other)
    make_result(scan, "2.2", object_kind="", object_name="")
    make_result(scan, "5.31", status="PASS", object_kind="container", object_name="ok")

    def ids(query: str) -> list[str]:
        body = api.get(f"/api/v1/findings/?{query}").json()
        return sorted(f["check_id"] for f in body["results"])

    assert ids("") == ["2.2", "5.31", "5.4"]
    assert ids(f"host={other.pk}") == ["2.2", "5.31"]
    assert ids("tag=prod") == ["5.4"]
    assert ids("check=2.2") == ["2.2"]
    assert ids("section=5") == ["5.31", "5.4"]
    assert ids("status=PASS") == ["5.31"]
    assert ids("state=open") == ["2.2", "5.4"]
    assert ids("risk=9") == [c for c in ["2.2", "5.31", "5.4"] if risk.weight(c) >= 9]
    Finding.objects.filter(check_id="5.4").update(waiver=world["waiver"])
    assert ids("waived=true") == ["5.4"]
    assert ids("waived=false") == ["2.2", "5.31"]
    later = (timezone.now() + timedelta(days=1)).isoformat()
    assert ids(f"first_seen_after={later.replace('+', '%2B')}") == []
    bad = api.get("/api/v1/findings/?status=MAYBE")
    assert bad.status_code == 400 and "status" in bad.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/api/v1/findings/", "/api/v1/scans/", "/api/v1/hosts/", "/api/v1/waivers/", "/api/v1/tags/"]
)
def test_a_list_costs_the_same_queries_whatever_the_page_size(path: str) -> None:
    for i in range(12):
        host = make_host(f"h{i}", tags=("prod", f"t{i}"))
        scan = make_scan(host)
        make_result(scan, "5.4", object_kind="container", object_name=f"c{i}")
        Waiver.objects.create(
            check_id="5.4", host=host, reason="r", owner="o", expires=timezone.now().date() + timedelta(days=3)
        )
    api, _user = token_client("admin")
    api.get(path)  # the token's first use writes its last_used: not a cost of the list

    def queries(size: int) -> int:
        with CaptureQueriesContext(connection) as seen:
            response = api.get(f"{path}?page_size={size}")
        assert response.status_code == 200 and len(response.json()["results"]) == min(size, response.json()["count"])
        return len(seen)

    assert queries(2) == queries(12)


# -- waivers and reports -------------------------------------------------------------------------------------


def test_a_waiver_made_through_the_api_meets_the_policy_and_can_be_revoked(world: dict[str, Any]) -> None:
    api, _user = token_client("operator")
    too_long = api.post(
        "/api/v1/waivers/",
        {"check_id": "2.2", "tag": "prod", "reason": "legacy", "owner": "ops", "expires": _days(4000)},
        format="json",
    )
    assert too_long.status_code == 400 and "expires" in too_long.json()["detail"]
    unknown = api.post(
        "/api/v1/waivers/",
        {"check_id": "2.2", "tag": "nope", "reason": "r", "owner": "o", "expires": _days(3)},
        format="json",
    )
    assert unknown.status_code == 400 and "tag" in unknown.json()["detail"]
    made = api.post(
        "/api/v1/waivers/",
        {"check_id": "2.2", "tag": "prod", "reason": "legacy", "owner": "ops", "expires": _days(30)},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["tag"] == "prod" and made.json()["active"] is True
    pk = made.json()["id"]
    edited = api.patch(f"/api/v1/waivers/{pk}/", {"reason": "still legacy"}, format="json")
    assert edited.status_code == 200 and edited.json()["reason"] == "still legacy" and edited.json()["tag"] == "prod"
    revoked = api.post(f"/api/v1/waivers/{pk}/revoke/")
    assert revoked.json()["active"] is False
    assert api.get("/api/v1/waivers/?active=true").json()["count"] == 1  # the world's own
    assert api.patch(f"/api/v1/waivers/{pk}/", {"reason": "x"}, format="json").status_code == 409


def test_a_report_is_requested_followed_and_downloaded(world: dict[str, Any]) -> None:
    api, _user = token_client("viewer")
    made = api.post("/api/v1/reports/", {"kind": "host", "host": world["host"].pk}, format="json")
    assert made.status_code == 202, made.json()
    assert made.json()["status"] == "queued" and made.json()["download"] is None
    assert api.post("/api/v1/reports/", {"kind": "host"}, format="json").json()["detail"]["host"]
    done = api.get(f"/api/v1/reports/{world['report'].pk}/").json()
    assert done["download"].endswith(f"/api/v1/reports/{world['report'].pk}/download/")
    pdf = api.get(done["download"])
    assert pdf["Content-Type"] == "application/pdf" and b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert api.get(f"/api/v1/reports/{made.json()['id']}/download/").status_code == 404
    assert Report.objects.count() == 2


# -- errors, sessions, limits --------------------------------------------------------------------------------


def test_errors_are_json_of_one_shape() -> None:
    api, _user = token_client("operator")
    missing = api.get("/api/v1/hosts/999999/")
    assert missing.status_code == 404 and missing.json() == {"error": "not_found", "detail": "Not found."}
    nowhere = api.get("/api/v1/nothing/")
    assert nowhere.status_code == 404 and nowhere.json()["error"] == "not_found"
    broken = api.post("/api/v1/hosts/", data="{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["error"] == "parse_error"
    wrong = api.put("/api/v1/scans/1/", {}, format="json")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def test_the_browser_session_works_and_needs_its_csrf_token() -> None:
    user = make_user("operator")
    browser = Client(enforce_csrf_checks=True)
    assert user is not None
    browser.force_login(user)
    assert browser.get("/api/v1/hosts/").status_code == 200
    refused = browser.post("/api/v1/hosts/", {"name": "x", "url": "unix:///var/run/docker.sock"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert not Host.objects.filter(name="x").exists()


def test_each_token_has_its_own_rate_limit(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "anonymous": "2/minute"},
    }
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    api_settings.reload()
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        first, _user = token_client("viewer")
        second, _other = token_client("operator")
        assert [first.get("/api/v1/tags/").status_code for _ in range(3)] == [200, 200, 200]
        limited = first.get("/api/v1/tags/")
        assert limited.status_code == 429 and limited.json()["error"] == "throttled"
        assert limited.json()["retry_after"] > 0 and int(limited["Retry-After"]) > 0
        assert second.get("/api/v1/tags/").status_code == 200  # another token, another budget
    finally:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"token": "600/minute", "anonymous": "60/minute"},
        }
        api_settings.reload()
        SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def _days(n: int) -> str:
    return (timezone.now().date() + timedelta(days=n)).isoformat()


def test_findings_as_csv_hold_every_filtered_row_with_formulas_defused(world: dict[str, Any]) -> None:
    api, _user = token_client("viewer")
    host = make_host("=HYPERLINK(evil)", tags=("prod",))
    scan = make_scan(host)
    for i in range(60):  # more than a page
        make_result(scan, "5.4", object_kind="container", object_name=f"c{i:02}")
    make_result(scan, "2.2", object_kind="", object_name="")
    response = api.get("/api/v1/findings/csv/?tag=prod&check=5.4")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("host,check_id,section,title,status,state")
    assert len(lines) == 1 + 61  # the world's finding on web-1, and the 60 here; not 2.2
    assert all(",2.2," not in line for line in lines)
    assert any(line.startswith("'=HYPERLINK(evil),5.4,5,") for line in lines)


# -- image vulnerabilities -----------------------------------------------------------------------------------


def test_a_scanner_report_is_posted_as_it_is_and_its_cves_are_listed(world: dict[str, Any]) -> None:
    api, _user = token_client("operator")
    grype = (VULNS / "grype-debian.json").read_bytes()
    made = api.generic("POST", "/api/v1/images/", grype, content_type="application/json")
    assert made.status_code == 201, made.json()
    report = made.json()
    assert report["scanner"] == "grype" and report["source"] == "api" and report["digests"]
    vulns = api.get(f"/api/v1/vulnerabilities/?image={report['id']}&page_size=500").json()
    assert vulns["count"] == sum(report[s] for s in ("critical", "high", "medium", "low", "negligible", "unknown"))
    severities = [v["severity"] for v in vulns["results"]]
    assert severities == sorted(severities, key=["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"].index)
    fixable = api.get(f"/api/v1/vulnerabilities/?image={report['id']}&fixable=true&page_size=500").json()
    assert fixable["count"] and all(v["fixed"] for v in fixable["results"])
    # As a file, the way the upload page takes it, it is the same report again: stored once.
    upload = api.post("/api/v1/images/", {"report": _file("grype.json", grype)}, format="multipart")
    assert upload.status_code == 201 and api.get("/api/v1/images/?scanner=grype").json()["count"] == 1


@pytest.mark.parametrize(
    "name", ["malformed-truncated.json", "malformed-unknown-format.json", "malformed-no-identity.json"]
)
def test_a_malformed_report_is_400_and_stores_nothing(name: str, world: dict[str, Any]) -> None:
    api, _user = token_client("operator")
    before = api.get("/api/v1/images/").json()["count"]
    refused = api.generic("POST", "/api/v1/images/", (VULNS / name).read_bytes(), content_type="application/json")
    assert refused.status_code == 400 and "cannot be read" in refused.json()["detail"]["report"][0]
    assert api.get("/api/v1/images/").json()["count"] == before


def test_a_cve_waiver_is_made_and_revoked_through_the_api(world: dict[str, Any]) -> None:
    api, _user = token_client("operator")
    made = api.post(
        "/api/v1/cve-waivers/",
        {
            "cve_id": "cve-2024-0001",
            "host": world["host"].pk,
            "reason": "not reachable",
            "owner": "ops",
            "expires": _days(10),
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["cve_id"] == "CVE-2024-0001" and made.json()["active"] is True
    bad = api.post(
        "/api/v1/cve-waivers/", {"cve_id": "<b>", "reason": "r", "owner": "o", "expires": _days(1)}, format="json"
    )
    assert bad.status_code == 400 and "cve_id" in bad.json()["detail"]
    revoked = api.post(f"/api/v1/cve-waivers/{made.json()['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["active"] is False


def _file(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/json")
