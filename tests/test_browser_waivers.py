"""A waiver's life in a real Chromium: made from a WARN finding, the score changes, it expires, the WARN is back.

The host's history is recorded with the real tracking rules (scans.tests.factories.track); the expiry is the
beat task's own function run after moving the waiver's date, as a night passing would.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from scans import waivers
from scans.models import Finding, Scan, Waiver
from scans.tests.factories import make_host, make_scan, track
from tests.personas import PASSWORD, make_user

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOSTILE = "<img src=x onerror=alert(1)>"


def test_an_operator_waives_a_finding_sees_the_score_change_and_the_warn_come_back(
    page: Page, live_server: LiveServer
) -> None:
    make_user("operator")
    host = make_host("web-1")
    yesterday = make_scan(host, score=80, when=timezone.now() - timedelta(days=1))
    scan = make_scan(host, score=80)
    for s in (yesterday, scan):
        Scan.objects.filter(pk=s.pk).update(summary={**s.summary, "judged": 20, "passed": 16})
        s.refresh_from_db()
        track(s, ("5.10", "WARN", "container", HOSTILE), ("2.1", "PASS", "", ""))
    finding = Finding.objects.get(host=host, check_id="5.10")
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    base = live_server.url
    page.goto(f"{base}/accounts/login/?next=/fleet/hosts/{host.pk}/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/fleet/hosts/{host.pk}/")
    score = page.locator("#findings-table h2 .score")
    assert score.inner_text().strip() == "80"

    # Open the WARN check and waive its finding, in place.
    check = page.locator("details#check-5\\.10")
    check.locator("summary").click()
    row = page.locator(f"tr#finding-{finding.pk}")
    assert row.locator(".status-warn").inner_text() == "WARN"
    row.locator("a.waive").click()
    form = row.locator("form.waiver-form")
    form.wait_for()
    assert form.locator("#id_object_pattern").input_value() == HOSTILE
    # A reason is required (the server says so too: scans/tests/test_waivers.py), so is an expiry.
    assert form.locator("#id_reason").get_attribute("required") is not None
    assert form.locator("#id_expires").get_attribute("max")
    form.locator("#id_reason").fill("limits come from the orchestrator")
    page.evaluate("window.notReloaded = true")  # gone if the page were loaded again
    form.locator("button[type=submit]").click()

    # The findings redraw themselves: WAIVED, and the score without the waived check (16 of 19).
    page.locator(f"tr#finding-{finding.pk} .status-waived").wait_for()  # visible: the check stays open
    assert page.locator("details#check-5\\.10 > summary .badge.status-waived").inner_text() == "WAIVED"
    assert score.inner_text().split()[0] == str(round(100 * 16 / 19))
    assert "80 without waivers" in score.inner_text()
    assert page.evaluate("window.notReloaded === true")  # swapped in place, no page load
    assert page.url == f"{base}/fleet/hosts/{host.pk}/?check=5.10"  # the address says which check is open
    waiver = Waiver.objects.get()
    assert (waiver.check_id, waiver.host_id, waiver.reason) == ("5.10", host.pk, "limits come from the orchestrator")

    # The waivers page lists it among the active ones.
    page.goto(f"{base}/fleet/waivers/")
    assert page.locator("table.waivers tbody tr").count() == 1

    # A night passes with its expiry: the beat task's work brings the WARN back.
    Waiver.objects.filter(pk=waiver.pk).update(expires=timezone.now().date())
    waivers.expire_waivers()
    page.goto(f"{base}/fleet/hosts/{host.pk}/?check=5.10")
    assert page.locator(f"tr#finding-{finding.pk} .status-warn").inner_text() == "WARN"
    assert score.inner_text().strip() == "80"
    page.goto(f"{base}/fleet/waivers/?show=expired")
    assert page.locator("table.waivers .badge", has_text="expired").count() == 1
    assert dialogs == [] and page.locator("img[src=x]").count() == 0
