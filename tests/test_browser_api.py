"""The API in a real browser: a person makes a token, and Swagger UI works under our CSP with it."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

import pytest

from api.models import ApiToken
from scans.tests.factories import make_host
from tests.personas import PASSWORD, make_user

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_viewer_makes_a_token_then_reads_the_docs_and_calls_the_api_with_it(
    page: Page, live_server: LiveServer
) -> None:
    make_user("viewer")
    make_host("web-1")
    base = live_server.url
    refused: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(message.text)

    page.on("console", on_console)
    page.goto(f"{base}/accounts/login/?next=/api/tokens/")
    page.fill("#id_username", "viewer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/api/tokens/")
    page.fill("#id_name", "laptop")
    page.select_option("#id_scope", "read")
    page.click("#token-form button[type=submit]")
    plaintext = page.locator("#new-token-value").inner_text().strip()
    assert plaintext.startswith("dbk_")
    assert ApiToken.objects.get(name="laptop").scope == "read"

    # Swagger UI, from our own static files, renders the schema's operations: no script or style refused.
    page.goto(f"{base}/api/v1/docs/")
    page.locator(".opblock-summary-path", has_text="/api/v1/hosts/").first.wait_for()
    assert page.locator(".opblock").count() > 20
    # Swagger UI sets a few style attributes, which the CSP refuses (cosmetic); no script may be refused.
    assert [m for m in refused if "script" in m] == []

    # The token, over real HTTP as a script would send it.
    request = urllib.request.Request(f"{base}/api/v1/hosts/", headers={"Authorization": f"Bearer {plaintext}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test's own live server
        assert response.status == 200
        assert json.loads(response.read())["results"][0]["name"] == "web-1"
