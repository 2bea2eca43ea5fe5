"""The vulnerability pages and their queries, on the real database with real report files."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from dockerbench.tests import factories as f
from dockerbench.vulns import parse_report, read_report_file
from hosts.models import Host
from tests.personas import persona_client
from vulns import queries, services
from vulns.models import CveWaiver, ImageReport

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/vulns"
WEB_ID = "sha256:8659a963999aab29097bd9d19bcdd3771e64430de7529a266c79a46864f4dffd"
WEB_INDEX = "sha256:4e9d62b02bc05e96a460820405bb2607762573630283b411c8d034e80ddceb54"
HOSTILE = "<img src=x onerror=alert(1)>"


def fleet_of(n_hosts: int) -> list[Host]:
    """Hosts running the Trivy fixture's image (another tag: the digest matches) and an unreported image."""
    hosts = []
    for i in range(n_hosts):
        host = Host.objects.create(name=f"web-{i}", url="unix:///var/run/docker.sock")
        web = f.image("mirror.local/web:prod", iid=WEB_ID, RepoDigests=[f"mirror.local/web@{WEB_INDEX}"])
        other = f.image(f"other:{i}")
        snap = f.snapshot(images=[web, other], containers=[f.container(f"shop-{i}", cid=f"{i:064x}", Image=WEB_ID)])
        services.record_host_images(host.pk, 100 + i, snap)
        hosts.append(host)
    return hosts


@pytest.fixture
def stored() -> ImageReport:
    return services.store_report(read_report_file(FIXTURES / "trivy-alpine.json"), source="upload")


@pytest.mark.parametrize("n_hosts", [1, 6])
def test_the_fleet_query_takes_five_queries_whatever_the_fleet_size(
    n_hosts: int, stored: ImageReport, django_assert_num_queries
) -> None:
    fleet_of(n_hosts)
    services.store_report(read_report_file(FIXTURES / "grype-debian.json"), source="upload")
    with django_assert_num_queries(5):
        fleet = queries.image_cves()
    (image,) = fleet.images  # the Grype report's image runs nowhere
    assert image.report.pk == stored.pk
    assert (image.hosts, image.running) == (n_hosts, n_hosts)
    assert [c.severity for c in image.cves] == ["CRITICAL", "CRITICAL", "HIGH", "HIGH"]
    assert len(fleet.unreported) == n_hosts and fleet.places == 2 * n_hosts


def test_filters_by_severity_fixable_host_and_container(stored: ImageReport) -> None:
    hosts = fleet_of(2)
    assert [c.cve_id for c in queries.image_cves(severities=("CRITICAL",)).images[0].cves] == [
        "CVE-2022-42889",
        "CVE-2099-1001",
    ]
    fixable = queries.image_cves(fixable_only=True).images[0].cves
    assert all(c.fixed for c in fixable) and "CVE-2099-1001" not in {c.cve_id for c in fixable}
    on_one = queries.image_cves(host_id=hosts[0].pk)
    assert [p.host_name for p in on_one.images[0].places] == ["web-0"]
    in_container = queries.image_cves(host_id=hosts[1].pk, container_id=f"{1:064x}")
    assert in_container.places == 1 and in_container.images[0].running == 1
    assert queries.image_cves(host_id=hosts[1].pk, container_id="nope").images == []


def test_a_cve_waiver_shows_on_the_hosts_it_covers(stored: ImageReport) -> None:
    hosts = fleet_of(2)
    expires = timezone.now().date() + timedelta(days=5)
    CveWaiver.objects.create(cve_id="CVE-2022-42889", host=hosts[0], reason="r", owner="o", expires=expires)
    cve = next(c for c in queries.image_cves().images[0].cves if c.cve_id == "CVE-2022-42889")
    assert (cve.waived_on, cve.places, cve.waived_everywhere) == (1, 2, False)
    page = persona_client("viewer").get(reverse("vulns:fleet")).content.decode()
    assert "waived on 1 of 2" in page


def test_the_fleet_page_shows_images_hosts_containers_and_fixes(stored: ImageReport) -> None:
    hosts = fleet_of(1)
    client = persona_client("viewer")
    page = client.get(reverse("vulns:fleet"))
    body = page.content.decode()
    assert page.status_code == 200
    assert "registry.example.com/shop/web:1.4" in body and "web-0" in body and "shop-0" in body
    assert "CVE-2022-42889" in body and "1.10.0" in body
    assert 'aria-current="page">Vulnerabilities</a>' in body
    host_page = client.get(reverse("vulns:host", args=[hosts[0].pk])).content.decode()
    assert "Vulnerabilities on web-0" in host_page
    container = client.get(reverse("vulns:container", args=[hosts[0].pk, f"{0:064x}"]))
    assert "Vulnerabilities in shop-0" in container.content.decode()
    partial = client.get(
        reverse("vulns:fleet") + "?severity=critical&fixable=1", headers={"HX-Request": "true", "HX-Target": "cve-list"}
    )
    assert b"<html" not in partial.content and b'id="cve-list"' in partial.content
    assert b"CVE-2022-42889" in partial.content and b"CVE-2099-1001" not in partial.content


def test_report_text_is_escaped_everywhere(stored: ImageReport) -> None:
    doc = json.loads((FIXTURES / "grype-debian.json").read_bytes())
    doc["source"]["target"]["tags"] = [HOSTILE]
    report = services.store_report(parse_report(json.dumps(doc)), source="upload")
    host = Host.objects.create(name="api-1", url="unix:///var/run/docker.sock")
    api = f.image(HOSTILE, iid="sha256:" + "a" * 64, RepoDigests=[f"x@{report.digests[0]}"])
    services.record_host_images(host.pk, 1, f.snapshot(images=[api], containers=[f.container(HOSTILE, Image=api.id)]))
    client = persona_client("operator")
    for url in (reverse("vulns:fleet"), reverse("vulns:report", args=[report.pk]), reverse("vulns:upload")):
        body = client.get(url).content.decode()
        assert HOSTILE not in body, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in body, url
    # The fixtures' own hostile titles (CVE-2099-*) are escaped too.
    assert "<script>" not in client.get(reverse("vulns:report", args=[stored.pk])).content.decode()


def test_an_operator_uploads_a_report_and_lands_on_it() -> None:
    client = persona_client("operator")
    upload = SimpleUploadedFile("clair.json", (FIXTURES / "clair-ubuntu.json").read_bytes())
    response = client.post(reverse("vulns:upload"), {"report": upload})
    report = ImageReport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("vulns:report", args=[report.pk])
    assert (report.scanner, report.source, report.uploaded_by.username) == ("clair", "upload", "operator")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("malformed-truncated.json", "This report cannot be read: malformed-truncated.json: "),
        ("malformed-trivy-schema1.json", "SchemaVersion"),
        ("malformed-no-identity.json", "names no image"),
    ],
)
def test_a_malformed_upload_is_a_form_error_and_stores_nothing(name: str, problem: str) -> None:
    upload = SimpleUploadedFile(name, (FIXTURES / name).read_bytes())
    response = persona_client("operator").post(reverse("vulns:upload"), {"report": upload})
    assert response.status_code == 400
    assert problem in response.content.decode()
    assert "Nothing was stored." in response.content.decode()
    assert not ImageReport.objects.exists()


def test_an_upload_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vulns.forms.MAX_REPORT_BYTES", 100)
    upload = SimpleUploadedFile("big.json", b" " * 101)
    response = persona_client("operator").post(reverse("vulns:upload"), {"report": upload})
    assert response.status_code == 400 and "the limit is 100" in response.content.decode()
    assert not ImageReport.objects.exists()


def test_an_older_report_of_a_stored_image_is_a_form_error() -> None:
    doc = json.loads((FIXTURES / "trivy-alpine.json").read_bytes())
    services.store_report(parse_report(json.dumps({**doc, "CreatedAt": "2030-01-01T00:00:00Z"})), source="api")
    upload = SimpleUploadedFile("old.json", json.dumps({**doc, "CreatedAt": "2020-01-01T00:00:00Z"}).encode())
    response = persona_client("operator").post(reverse("vulns:upload"), {"report": upload})
    assert response.status_code == 400 and "A newer report of this image is stored already" in response.content.decode()
    assert ImageReport.objects.count() == 1


def test_an_operator_waives_a_cve_and_revokes_it() -> None:
    host = Host.objects.create(name="web-0", url="unix:///var/run/docker.sock")
    client = persona_client("operator")
    form = client.get(reverse("vulns:waiver-add") + f"?cve=CVE-2022-42889&host={host.pk}").content.decode()
    assert 'value="CVE-2022-42889"' in form
    expires = (timezone.now().date() + timedelta(days=30)).isoformat()
    data = {"cve_id": "cve-2022-42889", "host": host.pk, "reason": "not reachable", "owner": "ops", "expires": expires}
    assert client.post(reverse("vulns:waiver-add"), data).status_code == 302
    waiver = CveWaiver.objects.get()
    assert (waiver.cve_id, waiver.host_id, waiver.created_by.username) == ("CVE-2022-42889", host.pk, "operator")  # type: ignore[union-attr]
    assert "CVE-2022-42889" in client.get(reverse("vulns:waivers")).content.decode()
    assert client.post(reverse("vulns:waiver-revoke", args=[waiver.pk])).status_code == 302
    waiver.refresh_from_db()
    assert waiver.revoked is not None and waiver.revoked_by.username == "operator"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"cve_id": "<x>"}, "Give a vulnerability id"),
        ({"expires": "2000-01-01"}, "The expiry must be after today."),
        ({"expires": "2999-01-01"}, "A CVE waiver runs at most 365 days."),
    ],
)
def test_a_bad_cve_waiver_is_refused(changes: dict[str, str], error: str) -> None:
    expires = (timezone.now().date() + timedelta(days=30)).isoformat()
    data = {"cve_id": "CVE-2022-42889", "reason": "r", "owner": "o", "expires": expires, **changes}
    response = persona_client("operator").post(reverse("vulns:waiver-add"), data)
    assert response.status_code == 400 and error in response.content.decode()
    assert not CveWaiver.objects.exists()
