"""A report in a real Chromium, against live_server and a real Celery worker on Redis: ask for it on the Reports
page, watch its progress change in place while the worker makes it, download the PDF and read it back."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reports.models import Report
from scans.tests.factories import make_host, make_scan
from tests.personas import PASSWORD, make_user
from tests.workers import Worker

if TYPE_CHECKING:
    from playwright.sync_api import Frame, Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REPORT_TIMEOUT_MS = 90_000


@pytest.fixture
def media(settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Storage in this test's folder, for live_server (this process) and the worker started after it."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)  # type: ignore[attr-defined]
    monkeypatch.setenv("DOCKERBENCH_MEDIA_ROOT", str(root))
    return root


def test_a_viewer_asks_for_a_fleet_report_watches_it_being_made_and_downloads_it(
    page: Page, live_server: LiveServer, media: Path, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    make_user("viewer")
    make_scan(make_host("web-1"), warn_by_section={"5": 2})
    make_scan(make_host("db-1"), warn_by_section={"2": 1})
    base = live_server.url
    page.goto(f"{base}/accounts/login/?next=/reports/")
    page.fill("#id_username", "viewer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/reports/")

    # No worker yet: the report waits in the queue, and its page says so.
    page.check("#id_sections_4")  # section 5 only
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/reports/\d+/$"))
    report = Report.objects.get()
    assert report.params["sections"] == ["5"] and report.requested_by is not None
    progress = page.locator("#report-progress")
    progress.locator(".badge", has_text="Queued").wait_for()
    assert progress.get_by_role("link", name="Refresh").is_visible()  # the way without JavaScript

    # The worker takes it; the progress part of the page changes by itself, the page is not reloaded.
    navigations: list[str] = []

    def on_navigated(frame: Frame) -> None:
        if frame == page.main_frame:
            navigations.append(frame.url)

    page.on("framenavigated", on_navigated)
    start_worker()
    progress.locator(".badge", has_text="Done").wait_for(timeout=REPORT_TIMEOUT_MS)
    assert navigations == []
    report.refresh_from_db()
    assert report.status == Report.Status.DONE and report.pages
    assert f"{report.pages} page" in progress.inner_text()
    assert progress.get_by_role("link", name="Refresh").count() == 0  # polling stopped

    with page.expect_download() as downloading:
        progress.get_by_role("link", name="Download the PDF").click()
    download = downloading.value
    assert download.suggested_filename == report.download_name and download.suggested_filename.endswith(".pdf")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes() == (media / report.file.name).read_bytes()
    text = subprocess.run(["pdftotext", str(saved), "-"], check=True, capture_output=True, text=True).stdout
    assert "web-1" in text and "db-1" in text

    # The Reports page lists it, with its download link.
    page.goto(f"{base}/reports/")
    row = page.locator(f"#report-{report.pk}")
    assert row.locator(".badge").inner_text().strip().endswith("Done")
    assert row.get_by_role("link", name="Download").is_visible()
