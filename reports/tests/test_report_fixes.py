"""The PDF host report's part on the host's generated fixes (scans.fixes)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reports.documents import ReportRequest, render_html
from scans.models import ScanSnapshot
from scans.tests.factories import make_host
from scans.tests.test_fixes import record

pytestmark = pytest.mark.django_db


def test_the_host_report_says_how_many_containers_have_fixes_and_where_to_get_them() -> None:
    host = make_host("web-1")
    record(host)
    html, _ = render_html(ReportRequest(kind="host", host_id=host.pk))
    part = html.split('id="fixes"')[1].split("</section>")[0]
    assert "for 7 containers" in part
    assert "<code>daemon.json</code>" in part
    assert reverse("scans:fixes", args=[host.pk]) in part and reverse("scans:fixes-bundle", args=[host.pk]) in part
    assert "python -m dockerbench --fixes DIR" in part and "Nothing has been applied" in part
    assert '<a href="#fixes">Fixes to review</a>' in html


def test_without_a_snapshot_the_report_says_why() -> None:
    host = make_host("web-1")
    scan = record(host)
    ScanSnapshot.objects.filter(scan=scan).delete()
    html, _ = render_html(ReportRequest(kind="host", host_id=host.pk))
    assert "no longer kept" in html.split('id="fixes"')[1].split("</section>")[0]
