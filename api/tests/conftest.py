"""Fixtures of the API tests: a world with one of everything, and clients that speak with a token."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient

from api import services
from dockerbench.vulns import parse_report
from hosts.models import Tag
from hosts.services import create_host
from reports.models import Report
from scans.models import ScanSnapshot, Waiver
from scans.tests.factories import make_result, make_scan
from tests.personas import make_user
from vulns.models import CveWaiver
from vulns.services import store_report

VULN_FIXTURES = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/vulns"
HOST_FIXTURES = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/hosts"


@pytest.fixture(autouse=True)
def _own_rate_limits(settings: Any) -> None:
    # The throttle counts live in the shared cache. In tests that is Redis database 15, which other test
    # processes and Celery's broker use too: never clear it. Each test counts in a cache of its own.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.MEDIA_ROOT = str(tmp_path)
    tag = Tag.objects.create(name="prod")
    host = create_host("web-1", "tcp://web-1.example.invalid:2376", tags=[tag])
    scan = make_scan(host, warn_by_section={"5": 1})
    result = make_result(scan, "5.4", object_kind="container", object_name="db")
    # The raw snapshot the host's fixes are written from (GET /hosts/{id}/fixes/).
    ScanSnapshot.pack(scan, (HOST_FIXTURES / "misconfigured.json").read_text()).save(force_insert=True)
    report = Report.objects.create(kind="fleet", params={"kind": "fleet"}, title="Fleet report", status="done")
    report.file.save("report.pdf", ContentFile(b"%PDF-1.7\n%%EOF\n"))
    waiver = Waiver.objects.create(
        check_id="5.4", host=host, reason="test", owner="ops", expires=timezone.now().date() + timedelta(days=30)
    )
    image = store_report(parse_report((VULN_FIXTURES / "trivy-alpine.json").read_bytes()), source="api")
    cve_waiver = CveWaiver.objects.create(
        cve_id="CVE-2023-5363", reason="test", owner="ops", expires=timezone.now().date() + timedelta(days=30)
    )
    return {
        "image": image,
        "vulnerability": image.vulnerabilities.first(),
        "cve_waiver": cve_waiver,
        "tag": tag,
        "host": host,
        "scan": scan,
        "finding": result.finding,
        "report": report,
        "waiver": waiver,
    }


def token_client(persona: str, scope: str = "write") -> tuple[APIClient, Any]:
    """A client that sends a new API token of ``persona`` (None for the anonymous: no token at all)."""
    client = APIClient()
    user = make_user(persona)
    if user is not None:
        _token, plaintext = services.create_token(
            user, name="test", scope=scope, expires=timezone.now().date() + timedelta(days=30)
        )
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client, user
