"""The browser chain works: pytest-django's live_server, sync Playwright and Debian's Chromium.

The dashboard's page tests build on the same fixtures (`page` from the root conftest, `live_server`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password-1"  # noqa: S105 - a throwaway user in the test database


def test_a_real_chromium_logs_in_to_the_admin(page: Page, live_server: LiveServer, django_user_model) -> None:
    django_user_model.objects.create_superuser("ada", "ada@example.invalid", PASSWORD)

    response = page.goto(f"{live_server.url}/admin/login/")
    assert response is not None and response.status == 200
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    page.wait_for_url(f"{live_server.url}/admin/")
    assert "Site administration" in page.title()
    # The static files came through too: the admin's stylesheet colours the header (unstyled, it is transparent).
    background = page.locator("#header").evaluate("element => getComputedStyle(element).backgroundColor")
    assert background not in ("", "transparent", "rgba(0, 0, 0, 0)")


def test_a_wrong_password_stays_on_the_login_page(page: Page, live_server: LiveServer, django_user_model) -> None:
    django_user_model.objects.create_superuser("ada", "ada@example.invalid", PASSWORD)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")

    assert page.locator(".errornote").is_visible()
    assert page.url.startswith(f"{live_server.url}/admin/login/")
