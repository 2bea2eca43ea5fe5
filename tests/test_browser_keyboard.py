"""From the keyboard only, in a real Chromium: an operator reaches and uses the main actions, and sees where the
focus is.

Only page.keyboard moves and acts (Tab, Shift+Tab, Enter, Space, typing); the mouse is never used. Locators
and evaluate only read where the focus is and how it is drawn. Element-level evaluate works under the
Content-Security-Policy (it runs through the DevTools protocol, not as page script: tests/test_browser_waivers.py
uses it on a normal context); the contexts here still bypass the CSP, as the axe tests' do, so that the two
files read the pages the same way.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from django.urls import reverse

from scans.models import Waiver
from tests.personas import PASSWORD, make_user
from tests.test_access import url_of

# rich and world: the fixtures, found by their names here.
from tests.test_browser_a11y import a11y_page, rich, world  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TAB_LIMIT = 400  # more than any page has focusable elements: past it, the target is not in the tab order

# What the focused element is and how its focus is drawn.
FOCUS_STATE = """el => {
  const s = getComputedStyle(el);
  const text = (el.getAttribute('aria-label') || el.innerText || el.value || el.name || '').trim();
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id,
    cls: typeof el.className === 'string' ? el.className : '',
    text: text.split(/\\s+/).join(' ').slice(0, 50),
    html: el.outerHTML.split(/\\s+/).join(' ').slice(0, 160),
    outline: [s.outlineStyle, s.outlineWidth, s.outlineColor].join(' '),
    outlineStyle: s.outlineStyle,
    outlineWidth: parseFloat(s.outlineWidth) || 0,
    boxShadow: s.boxShadow,
    inMain: !!el.closest('main'),
  };
}"""


def focused(page: Page) -> dict[str, Any]:
    return page.evaluate(f"() => ({FOCUS_STATE})(document.activeElement)")


def has_focus(target: Locator) -> bool:
    return bool(target.evaluate("el => el === document.activeElement"))


def tab_to(page: Page, target: Locator, *, what: str) -> int:
    """Press Tab until ``target`` has the focus; how many presses it took. Fails when it is not in the tab order."""
    target.first.wait_for()
    for presses in range(1, TAB_LIMIT + 1):
        page.keyboard.press("Tab")
        if has_focus(target.first):
            return presses
    pytest.fail(f"{what} is not reachable with Tab ({TAB_LIMIT} presses) on {page.url}", pytrace=False)


def focus_is_visible(state: dict[str, Any]) -> bool:
    outline = state["outlineStyle"] not in ("none", "hidden") and state["outlineWidth"] > 0
    return outline or state["boxShadow"] not in ("", "none")


def keyboard_log_in(page: Page, base: str, persona: str, next_url: str) -> None:
    page.goto(f"{base}{reverse('login')}?next={next_url}")
    tab_to(page, page.locator("#id_username"), what="the user name field")
    page.keyboard.type(persona)
    page.keyboard.press("Tab")
    assert has_focus(page.locator("#id_password")), "Tab from the user name goes to the password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}{next_url}")


@pytest.fixture
def operator_world(request: pytest.FixtureRequest) -> dict[str, Any]:
    make_user("operator")
    return request.getfixturevalue("rich")


def test_the_first_tab_reaches_a_skip_link_that_moves_past_the_header(
    browser: Browser, live_server: LiveServer, operator_world: dict[str, Any]
) -> None:
    base = live_server.url
    with a11y_page(browser) as page:
        keyboard_log_in(page, base, "operator", reverse("scans:overview"))
        page.keyboard.press("Tab")
        first = focused(page)
        assert first["tag"] == "a" and re.fullmatch(r"skip to (main )?content", first["text"], re.IGNORECASE), (
            f"the first focusable element is {first['html']}, not a 'Skip to content' link"
        )
        assert focus_is_visible(first), f"the skip link shows no focus: {first['outline']}, {first['boxShadow']}"
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        after = focused(page)
        assert after["inMain"], f"after the skip link, Tab goes to {after['html']}, outside <main>"


@pytest.mark.parametrize(
    "name", ["scans:overview", "scans:host", "hosts:list", "scans:waivers", "schedules:list", "scans:waiver-add"]
)
def test_every_focusable_element_shows_where_the_focus_is(
    name: str, browser: Browser, live_server: LiveServer, operator_world: dict[str, Any]
) -> None:
    """Tab through the whole page: each element that takes the focus draws an outline or a box-shadow."""
    base = live_server.url
    url = url_of(name, operator_world)
    with a11y_page(browser) as page:
        keyboard_log_in(page, base, "operator", url)
        page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
        seen: list[dict[str, Any]] = []
        for _ in range(TAB_LIMIT):
            page.keyboard.press("Tab")
            state = focused(page)
            if state["tag"] == "body" or (seen and state["html"] == seen[0]["html"]):
                break  # round the page and back
            seen.append(state)
    assert seen, f"nothing on {url} takes the focus"
    unseen = [s for s in seen if not focus_is_visible(s)]
    assert not unseen, f"{len(unseen)} of {len(seen)} focusable elements on {url} show no focus:\n" + "\n".join(
        f"  {s['html']}\n    outline: {s['outline']}; box-shadow: {s['boxShadow']}" for s in unseen[:15]
    )


def test_an_operator_uses_the_main_actions_from_the_keyboard(
    browser: Browser, live_server: LiveServer, operator_world: dict[str, Any], celery_queue: str
) -> None:
    """Nav, search, the filters, a check, a waiver and Scan now, by Tab, Enter, Space and typing only.

    celery_queue: Scan now sends its task to this session's own queue, which no production worker reads.
    """
    base = live_server.url
    host = operator_world["host"]
    overview = reverse("scans:overview")
    with a11y_page(browser) as page:
        keyboard_log_in(page, base, "operator", overview)

        # Every nav link, by Tab and Enter.
        nav = page.locator(".site-header nav a")
        links = [(nav.nth(i).inner_text(), nav.nth(i).get_attribute("href")) for i in range(nav.count())]
        assert [text for text, _ in links][:3] == ["Fleet", "Hosts", "Waivers"]
        for text, href in links:
            page.goto(f"{base}{overview}")
            tab_to(page, page.locator(".site-header nav a", has_text=text), what=f"the nav link {text}")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}{href}")

        # The fleet search: type, the results come in place; Enter searches too.
        page.goto(f"{base}{overview}")
        tab_to(page, page.locator("#fleet-search"), what="the fleet search box")
        page.keyboard.type("db-never")
        results = page.locator("#search-results")
        results.locator("h2", has_text="Hosts").wait_for()
        assert "db-never-scanned" in results.inner_text()
        page.keyboard.press("Enter")
        results.locator("a", has_text="db-never-scanned").wait_for()

        # The overview's filters: a tag picked by typing its name on the focused select.
        tag = page.locator("form.filters select[name=tag]")
        tab_to(page, tag, what="the overview's tag filter")
        page.keyboard.type("edge")
        page.wait_for_url(re.compile(r"[?&]tag=edge"))
        heat_map = page.locator("#heat-map")
        heat_map.locator("a", has_text="edge-2").wait_for()
        assert "web-1" not in heat_map.inner_text()

        # The host page: open a WARN check with Enter, another with Space.
        page.goto(f"{base}{url_of('scans:host', operator_world)}")
        waived_check = operator_world["waiver"].check_id
        warn_checks = page.locator(f"details.check:has(summary .badge.status-warn):not([id='check-{waived_check}'])")
        first, second = warn_checks.nth(0), warn_checks.nth(1)
        first_summary = page.locator(f"details[id='{first.get_attribute('id')}'] > summary")  # stays put once waived
        tab_to(page, first.locator("summary"), what="a WARN check's summary")
        page.keyboard.press("Enter")
        assert first.get_attribute("open") is not None, "Enter on a check's summary opens it"
        tab_to(page, second.locator("summary"), what="the next WARN check's summary")
        page.keyboard.press("Space")
        assert second.get_attribute("open") is not None, "Space on a check's summary opens it"

        # Waive a finding of the first check through its form: Enter on "Waive…", type, Enter on the button.
        row_id = first.locator("tr:has(a.waive)").first.get_attribute("id")
        row = page.locator(f"tr#{row_id}")
        tab_to(page, row.locator("a.waive"), what="the Waive… link")
        page.keyboard.press("Enter")
        form = row.locator("form.waiver-form")
        form.wait_for()
        assert focused(page)["tag"] != "body", "opening the waiver form keeps the focus where it was"
        tab_to(page, form.locator("#id_reason"), what="the waiver's reason")
        page.keyboard.type("accepted by the keyboard test")
        tab_to(page, form.locator("button[type=submit]"), what="the Waive button")
        page.keyboard.press("Enter")
        page.locator(f"tr#{row_id} .status-waived").wait_for()
        assert Waiver.objects.filter(reason="accepted by the keyboard test").exists()
        # The findings redraw with the waived check open, and the focus on its summary (autofocus), not lost.
        assert has_focus(first_summary), f"after the waiver, focus is on {focused(page)['html']}"

        # The host's verdict filter: WARN, typed on the focused select.
        status = page.locator("#findings-table form.filters select[name=status]")
        tab_to(page, status, what="the host's verdict filter")
        page.keyboard.type("WARN")
        page.wait_for_url(re.compile(r"[?&]status=WARN"))
        badges = page.locator("#findings-table details.check summary .badge")
        badges.first.wait_for()
        assert set(badges.all_inner_texts()) == {"WARN"}

        # Scan now, with Space on the button.
        tab_to(page, page.locator("#scan-progress button", has_text="Scan now"), what="Scan now")
        page.keyboard.press("Space")
        page.locator("#scan-progress", has_text=re.compile(r"Scan #\d+ is queued")).wait_for()
        assert host.scans.filter(status="queued").exists()
        # The progress region replaces the button; the focus moves to its Cancel button, which has the same id.
        after_scan = focused(page)
        assert after_scan["id"] == "scan-action" and "Cancel" in after_scan["text"], after_scan["html"]
