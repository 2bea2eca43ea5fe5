"""The strict Content-Security-Policy holds on every page, in a real Chromium, and htmx still works under it.

Violations are caught two ways: a `securitypolicyviolation` listener that Playwright adds to every document before
the page's own markup is parsed (an init script comes from the browser's debugging protocol, not the page, so
the policy does not block it), and Chromium's console messages about the policy. One test puts the old heat map
markup (a style attribute) into a page to prove the listener reports what the policy refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from scans.tests.factories import make_host, make_result, make_scan
from tests.personas import PASSWORD, make_user

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page
    from pytest_django.live_server_helper import LiveServer

    from hosts.models import Host

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.dockerbenchCspViolation(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline"} in ${event.sourceFile || event.documentURI}` +
      `:${event.lineNumber} ${event.sample}`
  );
}, true);
"""


@dataclass
class Violations:
    """Everything the policy refused in this browser context, from both sources, as text."""

    seen: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.seen.append(f"console: {message.text}")


@pytest.fixture
def csp_page(page: Page) -> Iterator[tuple[Page, Violations]]:
    violations = Violations()
    page.expose_function("dockerbenchCspViolation", lambda text: violations.seen.append(f"event: {text}"))
    page.add_init_script(LISTENER)
    page.on("console", violations.on_console)
    yield page, violations


@pytest.fixture
def fleet() -> tuple[Host, Host]:
    """Two scanned hosts with WARN checks in several sections (so the heat map uses several colours)."""
    web = make_host("web-1", tags=("prod",))
    db = make_host("db-1", tags=("staging",))
    scan = make_scan(web, score=62, warn_by_section={"1": 1, "2": 3, "5": 6})
    make_result(scan, "5.4", "WARN")
    make_result(scan, "2.1", "PASS")
    make_scan(db, score=91, warn_by_section={"5": 1})
    return web, db


def _open(page: Page, violations: Violations, url: str, *, ours: bool = True) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "style-src 'self'" in policy, (url, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, (url, policy)
    page.wait_for_load_state("load")
    if ours:  # our base.html, with htmx: our own script runs (script-src 'self')
        assert page.evaluate("typeof htmx") == "object", url
    # htmx 2 adds its indicator <style> unless told not to (base.html's htmx-config): none may appear.
    assert page.locator("style").count() == 0, url
    assert not page.locator("[style]").count(), (url, page.locator("[style]").first.evaluate("e => e.outerHTML"))
    assert violations.seen == [], (url, violations.seen)


def _log_in(page: Page, violations: Violations, base: str, username: str) -> None:
    _open(page, violations, f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/fleet/")


def test_every_main_page_keeps_to_the_policy(
    csp_page: tuple[Page, Violations], live_server: LiveServer, fleet: tuple[Host, Host]
) -> None:
    page, violations = csp_page
    web, _ = fleet
    make_user("admin")  # every page, the audit trail included
    base = live_server.url
    scan = web.latest.scan

    _log_in(page, violations, base, "admin")
    for path in (
        "/fleet/",
        f"/fleet/hosts/{web.pk}/",
        f"/fleet/scans/{scan.pk}/",
        "/fleet/checks/5.4/",
        f"/fleet/hosts/{web.pk}/drift/",
        "/hosts/",
        "/hosts/add/",
        f"/hosts/{web.pk}/edit/",
        "/schedules/",
        "/schedules/add/",
        "/audit/",
    ):
        _open(page, violations, base + path)
    # Django's own template (the admin's look), without htmx.
    _open(page, violations, f"{base}/accounts/password_change/", ours=False)

    # The stylesheet, not a style attribute, colours the heat map: web-1's section 5 (6 WARN, the highest).
    _open(page, violations, f"{base}/fleet/")
    darkest = page.locator("td.heat-6").first
    assert darkest.inner_text() == "6"
    assert darkest.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(143, 29, 44)"
    assert violations.seen == []


def test_htmx_swaps_the_heat_map_under_the_policy(
    csp_page: tuple[Page, Violations], live_server: LiveServer, fleet: tuple[Host, Host]
) -> None:
    page, violations = csp_page
    make_user("viewer")
    base = live_server.url
    _log_in(page, violations, base, "viewer")
    assert {"web-1", "db-1"} <= set(page.locator("#heat-map a").all_inner_texts())
    # Survives an htmx swap, not a page load: the filter must not navigate.
    page.evaluate("window.dockerbenchMarker = 'same document'")

    with page.expect_response(lambda r: "tag=prod" in r.url) as answer:
        page.select_option("select[name=tag]", "prod")
    response = answer.value
    assert response.request.headers.get("hx-request") == "true"
    assert response.status == 200
    # A locator, not wait_for_function: a predicate that is not true at once is polled with eval, which the policy
    # (rightly) refuses.
    page.locator("#heat-map a", has_text="db-1").wait_for(state="detached")

    assert page.evaluate("window.dockerbenchMarker") == "same document"
    assert re.search(r"/fleet/\?(.*&)?tag=prod", page.url)  # hx-push-url
    heat_map = page.locator("#heat-map")
    assert "web-1" in heat_map.inner_text()
    assert heat_map.locator("td.heat-6").evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
    assert page.locator("style").count() == 0
    assert violations.seen == []


def test_the_listener_reports_what_the_policy_refuses(
    csp_page: tuple[Page, Violations], live_server: LiveServer, fleet: tuple[Host, Host]
) -> None:
    page, violations = csp_page
    make_user("viewer")
    _log_in(page, violations, live_server.url, "viewer")

    # The heat map's old markup: a cell coloured by a style attribute.
    page.evaluate(
        """document.querySelector("#heat-map tbody tr").insertAdjacentHTML(
             "beforeend", '<td class="heat" style="background: #b2182b; color: #ffffff">6</td>')"""
    )
    for _ in range(40):
        if any(t.startswith("event:") for t in violations.seen):
            break
        page.wait_for_timeout(50)

    assert any("style-src-attr" in text for text in violations.seen), violations.seen
