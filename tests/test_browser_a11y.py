"""Every page as each persona sees it, checked by axe-core in a real Chromium: no serious or critical violation.

The pages come from tests/test_access.py's ACCESS (the GET rules a persona may use) and its url_of, so a new URL
is covered as soon as it has an access rule. The world behind them is a rich one: real results of the engine on
the fixture hosts (WARN, PASS, SKIP, INFO, NOTE, WAIVED), hostile names, a waiver of each kind, schedules, a
notification channel with deliveries, container drift, a failed and a running scan. One run also checks the
pages as a fresh install shows them, empty.

axe (tests/vendor/axe-core) is injected into each page. The Content-Security-Policy allows our own scripts only,
so the browser context is made with bypass_csp=True: axe is a test tool, not part of the page under test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from dockerbench.runner import evaluate
from dockerbench.snapshot import HostSnapshot
from hosts.models import ConnectionTest, Host, Tag
from hosts.services import create_host
from notifications.models import Channel, Delivery
from notifications.services import save_channel
from scans import services, waivers
from scans.models import Finding, Scan, Waiver
from scans.tests.factories import make_diff, make_scan
from schedules.models import Schedule
from schedules.services import save_schedule, set_enabled
from tests.personas import PASSWORD, PERSONAS, make_user

# world: test_access's fixture, found by its name here; a URL it learns to name is named in these tests too.
from tests.test_access import ACCESS, url_of, world  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor/axe-core/axe.min.js"
FIXTURES = Path(__file__).resolve().parents[1] / "dockerbench/tests/fixtures/hosts"
HOSTILE = "<img src=x onerror=alert(1)>"
BLOCKING = ("serious", "critical")
DESKTOP = 1280
PHONE = 390
SHOWN_NODES = 3  # per violation: enough to find the template, short enough to read


# -- the world --------------------------------------------------------------------------------------------


def record(host: Host, fixture: str, *, when: Any) -> Scan:
    """A finished scan of ``host`` holding the engine's real results on a fixture snapshot, dated ``when``.

    The scan is made RUNNING directly rather than queued: queueing would send a Celery message to a broker
    nobody reads here. record_results is the real store (findings, sightings, diffs, summary, waivers).
    """
    snapshot = HostSnapshot.from_json((FIXTURES / f"{fixture}.json").read_text())
    scan = Scan.objects.create(
        host=host, status=Scan.Status.RUNNING, attempts=1, started=timezone.now(), trigger=Scan.Trigger.SCHEDULE
    )
    services.record_results(scan, snapshot, evaluate(snapshot))
    Scan.objects.filter(pk=scan.pk).update(created=when, started=when, finished=when + timedelta(seconds=4))
    scan.refresh_from_db()
    return scan


def rich_world(base: dict[str, Any]) -> dict[str, Any]:
    """tests/test_access.py's world (one of everything a URL names), given what the pages need to show real
    content: the keys url_of reads, some pointed at richer objects, and more for the extra pages."""
    now = timezone.now()
    today = now.date()
    host = base["host"]  # web-1, tagged prod
    prod, edge = Tag.objects.get(name="prod"), Tag.objects.create(name="edge")
    hostile = create_host(HOSTILE, "tcp://hostile.example.invalid:2376", tags=[prod, edge])
    long_name = create_host("build-runner-with-a-rather-long-name-eu-west-3b-07", "ssh://ci@runner.example.invalid:22")
    never = create_host("db-never-scanned", "tcp://db.example.invalid:2376", tags=[edge])
    broken = create_host("edge-2", "tcp://edge-2.example.invalid:2376", tags=[edge], enabled=False)

    # The access world's scan is a made-up one of now: it goes first in web-1's history.
    Scan.objects.filter(pk=base["scan"].pk).update(
        created=now - timedelta(days=5), started=now - timedelta(days=5), finished=now - timedelta(days=5)
    )
    # web-1: a history in which WARNs open, get fixed and come back, so the charts, the news and the times to
    # remediate have content.
    record(host, "misconfigured", when=now - timedelta(days=4))
    record(host, "hardened", when=now - timedelta(days=3))
    record(host, "default", when=now - timedelta(days=2))
    scan = record(host, "misconfigured", when=now - timedelta(hours=1))
    make_diff(
        scan,
        HOSTILE,
        image=f"evil/{HOSTILE}:latest",
        labels={"note": HOSTILE, "com.example.team": "payments"},
        changes=[["A", f"/tmp/{HOSTILE}"], ["C", "/etc"], ["A", "/etc/cron.d/backdoor"]],
        new_since_previous=[["A", f"/tmp/{HOSTILE}"]],
        suspicious=[["A", "/etc/cron.d/backdoor"]],
    )
    make_diff(scan, "stopped-job", image="busybox:1.36", running=False, error="the engine refused the diff")
    record(hostile, "misconfigured", when=now - timedelta(hours=5))
    record(long_name, "default", when=now - timedelta(days=4))  # stale
    make_scan(broken, status=Scan.Status.FAILED, error=f"connection refused by {HOSTILE}", latest=False)
    active = Scan.objects.create(host=never, status=Scan.Status.RUNNING, attempts=1, started=now, worker="test-a11y")
    Scan.objects.filter(pk=active.pk).update(
        progress={"phase": "collecting", "done": 3, "total": 12, "checks_done": 0, "checks_total": 117}
    )

    # Waivers: one on a finding of web-1 (its WARN shows WAIVED), one on a tag, one expired, one revoked.
    warn = Finding.objects.filter(host=host, status="WARN", state="open", object_kind="container").first()
    assert warn is not None, "the misconfigured fixture has WARN containers"
    waiver = waivers.save_waiver(
        Waiver(
            check_id=warn.check_id,
            host=host,
            object_pattern=warn.object_name,
            reason=f"limits come from the orchestrator; see {HOSTILE}",
            owner="platform team",
            ticket="https://tickets.example.invalid/OPS-12",
            expires=today + timedelta(days=5),
        )
    )
    waivers.save_waiver(
        Waiver(
            check_id="2.1",
            tag=edge,
            reason="edge boxes are rebuilt nightly",
            owner="edge",
            expires=today + timedelta(days=90),
        )
    )
    waivers.save_waiver(
        Waiver(check_id="4.1", host=hostile, reason="expired one", owner="ops", expires=today - timedelta(days=1))
    )
    revoked = waivers.save_waiver(
        Waiver(check_id="5.4", host=hostile, reason="revoked one", owner="ops", expires=today + timedelta(days=9))
    )
    waivers.revoke_waiver(revoked)

    # A tag schedule, paused; the hosts have their nightly ones.
    tag_schedule = save_schedule(
        Schedule(name=f"Weekly: edge {HOSTILE}", tag=edge, minute="30", hour="3", day_of_week="0")
    )
    set_enabled(tag_schedule, False)

    channel = base["channel"]
    save_channel(channel)  # a webhook secret, as one made through the form has
    Channel.objects.create(
        name="security-mail", kind=Channel.Kind.EMAIL, recipients="sec@example.invalid", enabled=False, events=[]
    )
    Delivery.objects.create(
        channel=channel,
        event="new_findings",
        dedupe_key=f"scan:{scan.pk}",
        subject=f"3 new findings on {HOSTILE}",
        payload={"text": HOSTILE},
        status=Delivery.Status.SENT,
        attempts=1,
        last_response_code=204,
        sent_at=now,
        tried=now,
    )
    Delivery.objects.create(
        channel=channel,
        event="scan_failed",
        dedupe_key="scan:failed",
        subject="Scan of edge-2 failed",
        status=Delivery.Status.FAILED,
        attempts=5,
        last_response_code=500,
        last_error=f"500 Internal Server Error: {HOSTILE}",
        tried=now,
    )
    test = ConnectionTest.objects.create(
        host=host, status=ConnectionTest.Status.OK, message="Connected", docker_version="27.3.1", finished=now
    )
    services.rollup_fleet_days()
    return {
        **base,
        "scan": scan,
        "test": test,
        "waiver": waiver,
        # not named by url_of: the extra pages below
        "hosts": [hostile, long_name, never, broken],
        "active": active,
    }


@pytest.fixture
def rich(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The access world with real content (rich_world)."""
    return rich_world(request.getfixturevalue("world"))


# -- the pages --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    label: str
    url: str
    status: int = 200


def get_pages(persona: str) -> list[str]:
    """The URL names ``persona`` may GET, as ACCESS says. Redirects (home) land on a page listed anyway;
    what answers with something other than HTML (healthz, a report's PDF) is left out when it answers."""
    return sorted(name for name, r in ACCESS.items() if persona in r.allowed and r.method == "GET" and r.ok == 200)


def visits(persona: str, objects: dict[str, Any]) -> list[Visit]:
    names = get_pages(persona)
    pages = [Visit(name, url_of(name, objects)) for name in names]
    if "scans:host" in names:  # the other hosts: hostile, stale, never scanned but scanning, failed and disabled
        pages += [Visit(f"scans:host {h.name}", reverse("scans:host", args=[h.pk])) for h in objects["hosts"]]
        pages.append(Visit("scans:host ?check", f"{url_of('scans:host', objects)}?check={objects['waiver'].check_id}"))
        pages.append(Visit("scans:host ?status=WARN", f"{url_of('scans:host', objects)}?status=WARN"))
    if "scans:scan-progress" in names:
        pages.append(Visit("scans:scan-progress running", reverse("scans:scan-progress", args=[objects["active"].pk])))
    if "scans:search" in names:
        pages.append(Visit("scans:search ?q=", f"{reverse('scans:search')}?q=web"))
    if "scans:overview" in names:
        pages.append(Visit("scans:overview filtered", f"{reverse('scans:overview')}?tag=edge&status=warn"))
    if "scans:waivers" in names:
        pages.append(Visit("scans:waivers expired", f"{reverse('scans:waivers')}?show=expired"))
    # What a refused persona is shown: the no-access page, or the page naming the missing permission.
    refused = {"outsider": "scans:overview", "viewer": "hosts:add", "operator": "notifications:channels"}
    if persona in refused:
        pages.append(Visit(f"refused {refused[persona]}", url_of(refused[persona], objects), 403))
    return pages


# -- the browser ------------------------------------------------------------------------------------------


@contextmanager
def a11y_page(browser: Browser, width: int = DESKTOP, scheme: str = "light") -> Iterator[Page]:
    """A page in a fresh context that ignores the CSP, so axe can be injected and run; ``scheme`` is the
    colour scheme the browser prefers (the stylesheet follows it)."""
    context = browser.new_context(
        bypass_csp=True,
        viewport={"width": width, "height": 900},
        color_scheme="dark" if scheme == "dark" else "light",
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Page, base: str, persona: str) -> None:
    if persona == "anonymous":
        return
    page.goto(f"{base}{reverse('login')}")
    page.fill("#id_username", persona)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def axe_problems(page: Page) -> list[str]:
    """axe's serious and critical violations on the page as it is, every <details> opened first so that what
    they hide is checked too; one readable paragraph each."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    problems = []
    for v in result["violations"]:
        if v["impact"] not in BLOCKING:
            continue
        lines = [f"  [{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} elements) {v['helpUrl']}"]
        for node in v["nodes"][:SHOWN_NODES]:
            lines.append(f"      {' '.join(map(str, node['target']))}")
            lines.append(f"        {' '.join(node['html'].split())[:240]}")
            summary = " ".join((node.get("failureSummary") or "").split())
            if summary:
                lines.append(f"        {summary[:300]}")
        problems.append("\n".join(lines))
    return problems


def check_pages(page: Page, base: str, pages: list[Visit], *, max_width: int | None = None) -> list[str]:
    """Open each HTML page, check its answer and run axe on it: the report of every page with a problem.
    With ``max_width``, a page wider than that (it scrolls sideways as a whole) is a problem too."""
    report = []
    for visit in pages:
        # Asked first with the page's cookies: a download (a report's PDF) would not open as a page.
        answer = page.request.get(f"{base}{visit.url}", max_redirects=0)
        if not answer.headers.get("content-type", "").startswith("text/html"):
            if answer.status != visit.status:
                report.append(f"{visit.label} {visit.url}: answered {answer.status}, expected {visit.status}")
            continue
        response = page.goto(f"{base}{visit.url}")
        assert response is not None
        if response.status != visit.status:
            report.append(f"{visit.label} {visit.url}: answered {response.status}, expected {visit.status}")
            continue
        problems = axe_problems(page)
        if max_width is not None:
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > max_width:
                problems.append(f"the page is {width} px wide at {max_width} px: it scrolls sideways as a whole")
        if problems:
            report.append(f"{visit.label} {visit.url}:\n" + "\n".join(problems))
    return report


# -- the tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_a_persona_may_open_has_no_serious_accessibility_violation(
    persona: str, browser: Browser, live_server: LiveServer, rich: dict[str, Any]
) -> None:
    make_user(persona)
    pages = visits(persona, rich)  # the login page among them: the anonymous visitor sees it logged out
    started = time.monotonic()
    with a11y_page(browser) as page:
        log_in(page, live_server.url, persona)
        report = check_pages(page, live_server.url, pages)
    took = time.monotonic() - started
    print(f"{persona}: {len(pages)} pages in {took:.1f} s")  # shown with -s: how long the walk takes
    assert not report, f"{persona}, {len(pages)} pages in {took:.0f} s at {DESKTOP} px:\n" + "\n".join(report)


def test_the_fleet_a_host_and_its_fixes_have_no_serious_accessibility_violation_on_a_phone(
    browser: Browser, live_server: LiveServer, rich: dict[str, Any]
) -> None:
    make_user("operator")
    pages = [
        Visit("scans:overview", reverse("scans:overview")),
        Visit("scans:host", url_of("scans:host", rich)),
        Visit(f"scans:host {HOSTILE}", reverse("scans:host", args=[rich["hosts"][0].pk])),
        # The pages of long lines (run commands, compose files, CVE lists) and of one's own tokens.
        Visit("scans:fixes", url_of("scans:fixes", rich)),
        Visit("scans:container-fix", url_of("scans:container-fix", rich)),
        Visit("vulns:fleet", reverse("vulns:fleet")),
        Visit("api:tokens", reverse("api:tokens")),
    ]
    with a11y_page(browser, PHONE) as page:
        log_in(page, live_server.url, "operator")
        report = check_pages(page, live_server.url, pages, max_width=PHONE)
    assert not report, f"operator at {PHONE} px:\n" + "\n".join(report)


def test_every_admin_page_in_the_dark_scheme_has_no_serious_accessibility_violation(
    browser: Browser, live_server: LiveServer, rich: dict[str, Any]
) -> None:
    """The dark colours are a second palette: axe checks its contrast on every page the admin sees."""
    make_user("admin")
    pages = visits("admin", rich)
    with a11y_page(browser, scheme="dark") as page:
        log_in(page, live_server.url, "admin")
        assert page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
        report = check_pages(page, live_server.url, pages)
    assert not report, f"admin in the dark scheme, {len(pages)} pages:\n" + "\n".join(report)


def test_a_fresh_install_has_no_serious_accessibility_violation(browser: Browser, live_server: LiveServer) -> None:
    """The empty states: no host, no scan, no waiver, no channel; every page that names no object."""
    make_user("admin")
    pages = []
    for name in get_pages("admin"):
        try:
            pages.append(Visit(name, reverse(name)))
        except NoReverseMatch:  # it names an object, and there is none
            continue
    with a11y_page(browser) as page:
        log_in(page, live_server.url, "admin")
        report = check_pages(page, live_server.url, pages)
    assert not report, f"admin on an empty install, {len(pages)} pages:\n" + "\n".join(report)
