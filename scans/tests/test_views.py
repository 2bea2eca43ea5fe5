from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hosts.models import Host
from scans.models import LatestScan, Scan
from scans.tests.factories import make_diff, make_host, make_result, make_scan, track
from tests.personas import make_user

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
HX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = '"><script>alert(1)</script>'


# -- personas -------------------------------------------------------------------------------------


@pytest.fixture
def admin() -> User | None:
    return make_user("admin")


@pytest.fixture
def operator() -> User | None:
    return make_user("operator")


@pytest.fixture
def viewer() -> User | None:
    return make_user("viewer")


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def host() -> Host:
    host = make_host("web-1", tags=("prod",))
    previous = make_scan(host, score=60, when=timezone.now() - DAY, warn_by_section={"5": 1})
    track(previous, ("5.4", "WARN", "container", "old"), ("2.1", "PASS", "", ""))
    scan = make_scan(host, score=70, warn_by_section={"5": 1})
    track(scan, ("5.4", "WARN", "container", "db", "runs privileged"), ("2.1", "PASS", "", ""))
    make_diff(scan, "db", changes=[["A", "/usr/bin/nc"]], suspicious=[{"kind": "A", "path": "/usr/bin/nc"}])
    return Host.objects.get(pk=host.pk)


def latest_of(host: Host) -> int:
    scan = LatestScan.of(host)
    assert scan is not None
    return scan.pk


def pages(host: Host) -> dict[str, str]:
    """Every GET page with the partial its htmx requests get."""
    return {
        reverse("scans:overview"): "heat-map",
        reverse("scans:host", args=[host.pk]): "findings-table",
        reverse("scans:scan", args=[latest_of(host)]): "findings-table",
        reverse("scans:check", args=["5.4"]): "check-objects",
        reverse("scans:drift", args=[host.pk]): "drift-list",
    }


# -- access ---------------------------------------------------------------------------------------


def test_every_page_sends_anonymous_visitors_to_log_in(client: Client, host: Host) -> None:
    urls = [
        *pages(host),
        reverse("scans:scan-progress", args=[latest_of(host)]),
        reverse("scans:scan-now", args=[host.pk]),
    ]
    login = resolve_url(settings.LOGIN_URL)
    for url in urls:
        response = client.post(url) if url.endswith("/scan/") else client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(login), url
    assert Scan.objects.filter(status=Scan.Status.QUEUED).count() == 0


def test_a_viewer_sees_no_scan_button_and_cannot_start_a_scan(viewer: User, host: Host) -> None:
    client = as_user(viewer)

    page = client.get(reverse("scans:host", args=[host.pk]))
    response = client.post(reverse("scans:scan-now", args=[host.pk]))

    assert page.status_code == 200
    assert "Scan now" not in page.text
    assert response.status_code == 403
    assert not Scan.objects.filter(status=Scan.Status.QUEUED).exists()


def test_an_operator_starts_a_scan_and_is_sent_back_to_the_host(operator: User, host: Host) -> None:
    client = as_user(operator)

    page = client.get(reverse("scans:host", args=[host.pk]))
    response = client.post(reverse("scans:scan-now", args=[host.pk]))

    assert "Scan now" in page.text
    assert response.status_code == 302
    assert response["Location"] == reverse("scans:host", args=[host.pk])
    scan = Scan.objects.get(status=Scan.Status.QUEUED)
    assert (scan.host, scan.trigger, scan.triggered_by) == (host, Scan.Trigger.USER, operator)


def test_scan_now_over_htmx_swaps_in_a_polling_progress_bar(operator: User, host: Host) -> None:
    response = as_user(operator).post(reverse("scans:scan-now", args=[host.pk]), **HX)

    scan = Scan.objects.get(status=Scan.Status.QUEUED)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="scan-progress"')
    assert f'hx-get="{reverse("scans:scan-progress", args=[scan.pk])}"' in response.text
    assert 'hx-trigger="every 2s"' in response.text
    assert "<html" not in response.text


def test_scan_now_twice_returns_the_running_scan(admin: User, host: Host) -> None:
    client = as_user(admin)
    client.post(reverse("scans:scan-now", args=[host.pk]))
    client.post(reverse("scans:scan-now", args=[host.pk]))

    assert Scan.objects.filter(status=Scan.Status.QUEUED).count() == 1


def test_scan_now_needs_post(admin: User, host: Host) -> None:
    assert as_user(admin).get(reverse("scans:scan-now", args=[host.pk])).status_code == 405


def test_unknown_objects_are_404(admin: User) -> None:
    client = as_user(admin)
    assert client.get(reverse("scans:host", args=[999])).status_code == 404
    assert client.get(reverse("scans:scan", args=[999])).status_code == 404
    assert client.get(reverse("scans:check", args=["9.9"])).status_code == 404
    assert client.post(reverse("scans:scan-now", args=[999])).status_code == 404


# -- full pages and partials ----------------------------------------------------------------------


def test_each_page_is_a_full_page_without_htmx_and_its_partial_with_it(viewer: User, host: Host) -> None:
    client = as_user(viewer)
    for url, partial in pages(host).items():
        full = client.get(url)
        fragment = client.get(url, **HX)
        restore = client.get(url, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)

        assert full.status_code == fragment.status_code == restore.status_code == 200, url
        assert "<html" in full.text and f'id="{partial}"' in full.text, url
        assert "<html" not in fragment.text, url
        assert fragment.text.lstrip().startswith(f'<div id="{partial}"'), url
        assert "<html" in restore.text, url  # htmx puts a history restore in place of the whole body
        assert "HX-Request" in full["Vary"], url


def test_the_host_page_partial_follows_the_htmx_target(viewer: User, host: Host) -> None:
    response = as_user(viewer).get(reverse("scans:host", args=[host.pk]), HTTP_HX_TARGET="scan-list", **HX)

    assert response.text.lstrip().startswith('<section id="scan-list"')


def test_every_hx_get_link_keeps_its_href(viewer: User, host: Host) -> None:
    for _ in range(25):  # two pages of scans, so the scan list has page links
        make_scan(host, when=timezone.now() - 30 * DAY, latest=False)
    client = as_user(viewer)
    for url in [*pages(host), reverse("scans:overview") + "?tag=prod"]:
        text = client.get(url).text
        for chunk in text.split("<a ")[1:]:
            tag = chunk.split(">", 1)[0]
            if "hx-get" in tag:
                href = tag.split('href="', 1)[1].split('"', 1)[0]
                assert href and href in tag.split('hx-get="', 1)[1], (url, tag)


def test_the_host_page_shows_sections_checks_remediation_fixes_and_docs(viewer: User, host: Host) -> None:
    text = as_user(viewer).get(reverse("scans:host", args=[host.pk])).text

    assert "5. Container Runtime" in text
    assert 'id="check-5.4"' in text and "runs privileged" in text
    assert "How to fix it" in text and "<pre><code>" in text
    assert 'href="https://docs.docker.com/' in text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="score-history"' in text
    assert reverse("scans:scan", args=[latest_of(host)]) in text  # the scan list


def test_the_overview_filter_form_works_without_htmx(viewer: User, host: Host) -> None:
    make_host("other", tags=("dev",))
    client = as_user(viewer)

    text = client.get(reverse("scans:overview"), {"tag": "prod", "section": "5", "status": "warn"}).text
    table = text.split('id="heat-map"', 1)[1]  # the morning summary above names hosts of the whole fleet

    assert ">web-1</a>" in table and ">other</a>" not in table
    assert '<option value="prod" selected>' in text
    assert 'class="sparkline"' in text
    assert '<td class="new">+1</td>' in text and '<td class="fixed">−1</td>' in text


# -- progress -------------------------------------------------------------------------------------


def test_progress_polls_while_the_scan_runs(viewer: User, host: Host) -> None:
    scan = make_scan(host, status=Scan.Status.RUNNING, latest=False)
    Scan.objects.filter(pk=scan.pk).update(
        progress={"phase": "collecting", "done": 3, "total": 12, "checks_done": 0, "checks_total": 117}
    )
    client = as_user(viewer)

    page = client.get(reverse("scans:host", args=[host.pk]))
    poll = client.get(reverse("scans:scan-progress", args=[scan.pk]), **HX)
    full = client.get(reverse("scans:scan-progress", args=[scan.pk]))

    assert 'hx-trigger="every 2s"' in page.text
    assert poll.status_code == 200
    assert 'hx-trigger="every 2s"' in poll.text
    assert '<progress max="12" value="3">' in poll.text and "3 / 12" in poll.text
    assert "<html" not in poll.text
    assert "<html" in full.text and '<progress max="12" value="3">' in full.text


def test_progress_stops_polling_and_refreshes_when_the_scan_is_finished(viewer: User, host: Host) -> None:
    response = as_user(viewer).get(reverse("scans:scan-progress", args=[latest_of(host)]), **HX)

    assert response.status_code == 286
    assert response["HX-Refresh"] == "true"
    assert "every 2s" not in response.text


def test_a_failed_scan_says_why(viewer: User, host: Host) -> None:
    failed = make_scan(host, status=Scan.Status.FAILED, when=timezone.now() + DAY, error="cannot connect <b>")
    client = as_user(viewer)

    progress = client.get(reverse("scans:scan-progress", args=[failed.pk]), **HX)
    page = client.get(reverse("scans:host", args=[host.pk]))

    assert progress.status_code == 286
    assert "cannot connect &lt;b&gt;" in progress.text
    assert "cannot connect &lt;b&gt;" in page.text


# -- escaping -------------------------------------------------------------------------------------


def test_text_from_hosts_is_escaped_everywhere(viewer: User) -> None:
    host = make_host("hostile")
    scan = make_scan(host, warn_by_section={"5": 1})
    make_result(
        scan,
        "5.4",
        object_kind="container",
        object_id=SCRIPT,
        object_name=IMG,
        message=f"label {IMG}",
        evidence={"labels": {"x": IMG}, "env": [SCRIPT], "mounts": [f"/srv/{IMG}"]},
    )
    make_diff(
        scan,
        IMG,
        image=SCRIPT,
        changes=[["A", f"/tmp/{IMG}"]],
        new_since_previous=[["A", f"/tmp/{SCRIPT}"]],
        suspicious=[{"kind": "A", "path": f"/usr/bin/{IMG}", "reason": SCRIPT}],
    )
    client = as_user(viewer)
    urls = [
        reverse("scans:host", args=[host.pk]),
        reverse("scans:scan", args=[scan.pk]),
        reverse("scans:check", args=["5.4"]),
        reverse("scans:drift", args=[host.pk]),
    ]
    for url in urls:
        for response in (client.get(url), client.get(url, **HX)):
            text = response.text
            assert "<img src=x" not in text, url
            assert "<script>alert" not in text, url
            assert "&lt;img src=x onerror=alert(1)&gt;" in text, url
    drift = client.get(reverse("scans:drift", args=[host.pk])).text
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in drift


# -- query counts ---------------------------------------------------------------------------------


def _seed(hosts: int, scans: int) -> Host:
    first = None
    for h in range(hosts):
        host = make_host(f"h{h:02d}", tags=("prod", f"rack-{h % 3}"))
        for s in range(scans):
            scan = make_scan(host, score=40 + s, when=timezone.now() - (scans - s) * DAY, warn_by_section={"5": 2})
            make_result(scan, "5.4", object_kind="container", object_name=f"c{s % 3}")
            make_result(scan, "2.1", "PASS")
        make_diff(scan, "db")
        first = first or host
    assert first is not None
    return Host.objects.get(pk=first.pk)


# session, user, the user's permissions (core.backends: one query), number of matching hosts, the page's hosts,
# tag list, page's tags, scores; the full page adds the fleet's top risks and the morning summary (3: hosts,
# waivers expiring, the trend); the filters redraw the table only
OVERVIEW_QUERIES = 12
OVERVIEW_TABLE_QUERIES = 8
# session, user, the user's permissions, host, newest scan, history, result counts, result rows, scan count,
# scan page, host tags
HOST_QUERIES = 11


@pytest.mark.parametrize(("hosts", "scans"), [(3, 1), (30, 1), (3, 20)])
def test_the_overview_query_count_does_not_grow_with_the_fleet(
    django_assert_num_queries, operator: User, hosts: int, scans: int
) -> None:
    _seed(hosts, scans)
    client = as_user(operator)

    for headers, queries in (({}, OVERVIEW_QUERIES), (HX, OVERVIEW_TABLE_QUERIES)):
        with django_assert_num_queries(queries):
            response = client.get(reverse("scans:overview"), **headers)
        assert response.text.count('class="sparkline"') == hosts


@pytest.mark.parametrize(("hosts", "scans"), [(3, 1), (30, 1), (3, 20)])
def test_the_host_page_query_count_does_not_grow_with_the_history(
    django_assert_num_queries, operator: User, hosts: int, scans: int
) -> None:
    host = _seed(hosts, scans)
    client = as_user(operator)

    with django_assert_num_queries(HOST_QUERIES):
        response = client.get(reverse("scans:host", args=[host.pk]))
    history = response.text.split('<section class="history">', 1)[1].split("</section>", 1)[0]
    assert history.count('<circle cx="') == scans  # a point per scan (the band's sparkline marks its last)


def test_the_host_page_leads_with_a_summary_band_and_its_warns(viewer: User, host: Host) -> None:
    client = as_user(viewer)
    text = client.get(reverse("scans:host", args=[host.pk])).text
    band = text.split('<section class="host-band"', 1)[1].split("</section>", 1)[0]
    assert ">C</span>" in band  # score 70
    assert 'class="sparkline"' in band and "to fix first" in band
    # WARN checks in the open; passing ones behind one click, in their section.
    section_2 = text.split('id="section-2"', 1)[1].split("</section>", 1)[0]
    section_5 = text.split('id="section-5"', 1)[1].split("</section>", 1)[0]
    assert section_2.index('<details class="passing">') < section_2.index('id="check-2.1"')
    assert "1 other check (PASS)" in section_2
    assert 'id="check-5.4"' in section_5 and '<details class="passing">' not in section_5
    # Asking for a verdict or a check shows them flat.
    flat = client.get(reverse("scans:host", args=[host.pk]), {"status": "PASS"}).text
    assert '<details class="passing">' not in flat and 'id="check-2.1"' in flat
