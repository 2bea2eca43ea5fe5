"""The fleet search in a real Chromium: typing in the overview's box brings the results in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from scans.tests.factories import make_diff, make_host, make_scan
from tests.personas import PASSWORD, make_user

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_typing_a_container_name_finds_it_without_leaving_the_overview(page: Page, live_server: LiveServer) -> None:
    make_user("viewer")
    make_diff(make_scan(make_host("db-1")), "postgres-replica", image="postgres:16")
    make_host("web-1")
    base = live_server.url
    page.goto(f"{base}/accounts/login/?next=/fleet/")
    page.fill("#id_username", "viewer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/fleet/")

    page.fill("#fleet-search", "replica")  # no Enter: the box searches as one types
    results = page.locator("#search-results")
    results.locator("h2", has_text="Containers").wait_for()
    assert "postgres-replica on db-1" in " ".join(results.inner_text().split())
    assert page.url == f"{base}/fleet/"
    page.fill("#fleet-search", "web")
    page.keyboard.press("Enter")  # Enter searches in place too (without htmx it is /fleet/search/?q=...)
    results.locator("h2", has_text="Hosts").wait_for()
    assert page.locator("#search-results h2").all_inner_texts() == ["Hosts"]
    assert page.url == f"{base}/fleet/"
