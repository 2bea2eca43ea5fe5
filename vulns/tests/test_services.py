"""Storing reports, recording hosts' images and attaching reports to snapshots, on the real database.

Reports are the real report files of dockerbench/tests/fixtures/vulns (the shapes Trivy, Grype and Clair
write). A real scan judged by a stored report is in scans/tests/test_vulns_scan.py.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from dockerbench.checks.images import CHECKS
from dockerbench.results import Status
from dockerbench.snapshot import ImageVulnReport
from dockerbench.tests import factories as f
from dockerbench.vulns import parse_report, read_report_file
from hosts.models import Host
from tests.personas import make_user
from vulns import services
from vulns.models import CveWaiver, HostImage, ImageReport, ImageReportKey, Vulnerability

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/vulns"
WEB_ID = "sha256:8659a963999aab29097bd9d19bcdd3771e64430de7529a266c79a46864f4dffd"
WEB_INDEX = "sha256:4e9d62b02bc05e96a460820405bb2607762573630283b411c8d034e80ddceb54"


def report(name: str) -> ImageVulnReport:
    return read_report_file(FIXTURES / name)


def trivy_doc(**changes: object) -> dict:
    doc = json.loads((FIXTURES / "trivy-alpine.json").read_bytes())
    doc.update(changes)
    return doc


def web_image(tag: str = "mirror.local/web:prod"):
    return f.image(tag, iid=WEB_ID, RepoDigests=[f"mirror.local/web@{WEB_INDEX}"])


def test_a_report_is_stored_with_its_keys_counts_and_vulnerabilities() -> None:
    user = make_user("operator")
    stored = services.store_report(report("trivy-alpine.json"), source="upload", user=user)
    assert (stored.scanner, stored.image_id, stored.digests, stored.uploaded_by) == ("trivy", WEB_ID, [WEB_INDEX], user)
    assert (stored.critical, stored.high, stored.medium, stored.low, stored.unknown) == (2, 2, 3, 1, 1)
    assert stored.fixable_critical == 1
    assert stored.scanned_at is not None
    assert set(ImageReportKey.objects.values_list("key", flat=True)) == {WEB_ID, WEB_INDEX}
    vulns = Vulnerability.objects.filter(report=stored)
    assert vulns.count() == 9
    assert vulns.first().severity == "CRITICAL"  # type: ignore[union-attr]
    assert LogEntry.objects.filter(additional_data__event="image report stored", actor=user).exists()


def test_a_newer_report_of_the_same_image_replaces_the_older() -> None:
    old = services.store_report(parse_report(json.dumps(trivy_doc(CreatedAt="2026-01-01T00:00:00Z"))), source="api")
    new = services.store_report(
        parse_report(json.dumps(trivy_doc(CreatedAt="2026-02-01T00:00:00.123456789Z"))), source="upload"
    )
    assert list(ImageReport.objects.values_list("pk", flat=True)) == [new.pk]
    assert not Vulnerability.objects.filter(report_id=old.pk).exists()
    assert set(ImageReportKey.objects.values_list("report_id", flat=True)) == {new.pk}


def test_an_older_report_than_the_stored_one_is_refused_and_nothing_is_stored() -> None:
    services.store_report(parse_report(json.dumps(trivy_doc(CreatedAt="2026-02-01T00:00:00Z"))), source="api")
    with pytest.raises(services.StaleReport, match="a newer report of this image is stored already"):
        services.store_report(parse_report(json.dumps(trivy_doc(CreatedAt="2026-01-01T00:00:00Z"))), source="api")
    assert ImageReport.objects.count() == 1


def test_reports_of_different_images_live_side_by_side() -> None:
    for name in ("trivy-alpine.json", "grype-debian.json", "clair-ubuntu.json"):
        services.store_report(report(name), source="upload")
    assert ImageReport.objects.count() == 3


def test_record_host_images_replaces_the_hosts_rows_with_the_running_containers() -> None:
    host = Host.objects.create(name="h1", url="unix:///var/run/docker.sock")
    img = web_image()
    other = f.image("other:1")
    snap = f.snapshot(
        images=[img, other],
        containers=[f.container("web", Image=img.id), f.container("stopped", Image=img.id, running=False)],
    )
    assert services.record_host_images(host.pk, 7, snap) == 2
    row = HostImage.objects.get(host=host, image_id=WEB_ID)
    assert row.scan_id == 7 and row.tags == ["mirror.local/web:prod"]
    assert set(row.keys) == {WEB_ID, WEB_INDEX}
    assert [c["name"] for c in row.containers] == ["web"]
    services.record_host_images(host.pk, 8, f.snapshot(images=[other]))
    assert list(HostImage.objects.filter(host=host).values_list("image_id", "scan_id")) == [(other.id, 8)]
    # A snapshot that could not list images keeps what the last scan saw.
    services.record_host_images(host.pk, 9, dataclasses.replace(f.snapshot(), images=None))
    assert HostImage.objects.filter(host=host).count() == 1


def test_attach_known_reports_gives_the_engine_matching_reports_with_waivers_applied() -> None:
    host = Host.objects.create(name="h1", url="unix:///var/run/docker.sock")
    elsewhere = Host.objects.create(name="h2", url="unix:///var/run/docker.sock")
    services.store_report(report("trivy-alpine.json"), source="upload")
    services.store_report(report("grype-debian.json"), source="upload")  # an image this host does not have
    snap = f.snapshot(images=[web_image(), f.image("other:1")])

    attached = services.attach_known_reports(host, snap)
    assert attached.image_reports is not None and len(attached.image_reports) == 1
    (finding, note) = CHECKS["4.4"](attached)
    assert finding.status == Status.WARN and finding.evidence["critical_ids"] == ["CVE-2022-42889"]
    assert note.status == Status.NOTE and note.evidence["without_report"] == ["other:1"]

    tomorrow = timezone.now().date() + timedelta(days=1)
    waiver = {"reason": "vendored, not reachable", "owner": "ops", "expires": tomorrow}
    CveWaiver.objects.create(cve_id="CVE-2022-42889", host=elsewhere, **waiver)  # another host
    CveWaiver.objects.create(cve_id="CVE-2022-42889", image_pattern="nginx:*", **waiver)  # another image
    CveWaiver.objects.create(cve_id="CVE-2022-42889", expires=timezone.now().date(), reason="x", owner="o")  # expired
    revoked = CveWaiver.objects.create(cve_id="CVE-2022-42889", **waiver)
    services.revoke_cve_waiver(revoked)
    assert services.attach_known_reports(host, snap).image_reports[0].vulns[0].waived is False  # type: ignore[index]

    services.save_cve_waiver(CveWaiver(cve_id=" cve-2022-42889 ", host=host, image_pattern="mirror.local/*", **waiver))
    again = services.attach_known_reports(host, snap)
    waived = [v.id for v in again.image_reports[0].vulns if v.waived]  # type: ignore[index]
    assert waived == ["CVE-2022-42889"]
    assert [x.status for x in CHECKS["4.4"](again)] == [Status.NOTE]  # the web image passes; other:1 unreported
