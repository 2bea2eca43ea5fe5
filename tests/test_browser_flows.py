"""An operator's morning in a real Chromium, against live_server, the real dockerd and a real Celery worker on Redis.

Log in, add the local engine as a host, test its connection, scan it now and watch the progress bar until the
results come in, open a WARN check and read its remediation, open a container's drift, edit and pause a schedule.
A container on that engine carries a hostile label, and a file of the same name, and the pages must show them as
text: no dialog may ever open.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import docker
import pytest

from hosts.models import Host
from tests.personas import PASSWORD, make_user
from tests.workers import Worker

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOSTILE = "<img src=x onerror=alert(1)>"
SCAN_TIMEOUT_MS = 120_000


@pytest.fixture
def hostile_container(docker_url: str, test_image: str) -> Iterator[str]:
    """A running container whose label, and a file it creates, hold markup; removed afterwards. Yields its name."""
    client = docker.DockerClient(base_url=docker_url, timeout=60)
    name = f"dockerbench-xss-{uuid.uuid4().hex[:8]}"
    container = client.containers.run(
        test_image,
        ["sh", "-c", f"touch '/tmp/{HOSTILE}' && exec sleep 600"],
        name=name,
        detach=True,
        labels={"dockerbench.test": "browser-flows", "note": HOSTILE},
    )
    try:
        yield name
    finally:
        container.remove(force=True)
        client.close()


def test_an_operator_adds_a_host_scans_it_reads_the_results_and_edits_its_schedule(
    page: Page,
    live_server: LiveServer,
    docker_url: str,
    hostile_container: str,
    start_worker: Callable[..., Worker],
) -> None:
    make_user("operator")
    start_worker()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    base = live_server.url

    # Every page is behind login: the hosts page sends us to our own login page and back.
    page.goto(f"{base}/hosts/")
    assert page.url.startswith(f"{base}/accounts/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/hosts/")
    assert page.locator(".site-header .user").inner_text() == "operator"

    # Add the local engine (htmx posts the form; the answer navigates to the host's edit page).
    page.click("text=Add a host")
    page.fill("#id_name", "local")
    page.fill("#id_url", docker_url)
    page.fill("#id_tags", "ci, local")
    page.click("#host-form button[type=submit]")
    page.wait_for_url(re.compile(r"/hosts/\d+/edit/$"))
    host = Host.objects.get(name="local")
    assert page.locator(".messages").inner_text().startswith("Host local added")
    assert page.locator(".credential-state").all_inner_texts() == ["not set"] * 4

    # Test connection, inline.
    page.click("text=Test connection")
    page.locator("#connection-result .status-pass").wait_for()
    assert page.locator("#connection-result").inner_text().startswith("Connected: Docker ")

    # Scan now, and watch the progress until the results replace it.
    page.click("text=Findings")
    page.wait_for_url(f"{base}/fleet/hosts/{host.pk}/")
    page.click("#scan-progress button:has-text('Scan now')")
    page.locator("#scan-progress progress").first.wait_for()
    page.locator("#findings-table details.check").first.wait_for(timeout=SCAN_TIMEOUT_MS)
    assert page.locator("#scan-progress progress").count() == 0
    scan = host.scans.get()
    assert scan.status in ("succeeded", "partial"), scan.error
    assert scan.worker.startswith("test-")  # run by the Celery worker, not in this process

    # Open a WARN check and read how to fix it.
    warn = page.locator("details.check:has(.badge.status-warn)").first
    warn.locator("summary").click()
    remediation = warn.locator(".remediation")
    remediation.wait_for()
    assert "How to fix it" in remediation.inner_text()
    assert len(remediation.locator("p").first.inner_text()) > 20

    # The hostile container's drift: its label and the file name show as text.
    page.click("text=Container drift")
    page.wait_for_url(f"{base}/fleet/hosts/{host.pk}/drift/")
    section = page.locator(f"section.container:has(h2:has-text('{hostile_container}'))")
    section.wait_for()
    labels = section.locator("details.labels")
    labels.locator("summary").click()
    assert labels.locator("dd", has_text=HOSTILE).is_visible()
    details = section.locator("details:not(.labels)")
    details.locator("summary").click()
    assert HOSTILE in details.locator("pre.diff").inner_text()
    assert page.get_by_text(f"A /tmp/{HOSTILE}").first.is_visible()
    assert page.locator("img[src=x]").count() == 0
    assert HOSTILE not in page.content()  # serialised back from the DOM: a text node, never an element

    # Edit the host's nightly schedule, then pause it from the list.
    page.click(".site-header nav >> text=Schedules")
    page.wait_for_url(f"{base}/schedules/")
    row = page.locator("tr:has-text('Nightly: local')")
    row.locator("text=Edit").click()
    page.fill("#id_minute", "15")
    page.fill("#id_hour", "4")
    page.click("#schedule-form button[type=submit]")
    page.wait_for_url(f"{base}/schedules/")
    assert page.locator(".messages").inner_text() == "Schedule Nightly: local saved."
    row = page.locator("tr:has-text('Nightly: local')")
    assert row.locator("code").inner_text() == "15 4 * * *"
    assert re.search(r"\d{4}-\d\d-\d\d 04:15", row.inner_text())
    row.locator("button:has-text('Pause')").click()
    page.locator("tr:has-text('Nightly: local') td:text-is('paused')").wait_for()
    schedule = host.schedules.get()
    assert (schedule.crontab_text, schedule.enabled) == ("15 4 * * *", False)
    assert schedule.periodic_task is not None and schedule.periodic_task.enabled is False

    assert dialogs == []
