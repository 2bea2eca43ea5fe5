"""Other teams' secrets never reach our database, pages or logs: a real container's password, end to end.

The container runs on the real dockerd with a password in its environment and another on its command line;
a real Celery worker scans it. Afterwards neither value is in any row of any table (raw snapshots
decompressed), in any page an admin can open about the host, or in the worker's log; the variable's name
and the redaction marker are there, so the evidence still says what was found.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from hosts.models import Host
from hosts.services import create_host
from scans.models import Finding, Scan, ScanSnapshot
from tests.personas import persona_client
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def _every_row_as_text() -> str:
    chunks = []
    for model in apps.get_models():
        for row in model._base_manager.all().values():
            chunks.append(json.dumps(row, default=str))
    for snapshot in ScanSnapshot.objects.all():
        chunks.append(snapshot.unpack())
    return "\n".join(chunks)


def _pages(client: Client, host: Host, scan: Scan) -> str:
    urls = [
        reverse("scans:overview"),
        reverse("scans:host", args=[host.pk]),
        reverse("scans:scan", args=[scan.pk]),
        reverse("scans:scan", args=[scan.pk]) + "?check=5.7",
        reverse("scans:scan", args=[scan.pk]) + "?check=S.1",
        reverse("scans:check", args=["S.1"]),
        reverse("scans:check", args=["4.10"]),
        reverse("scans:check", args=["5.7"]),
        reverse("scans:drift", args=[host.pk]),
        reverse("hosts:edit", args=[host.pk]),
        reverse("audit:audit-trail"),
    ]
    bodies = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        bodies.append(response.content.decode())
    return "\n".join(bodies)


def _run_scan(host: Host) -> Scan:
    client = persona_client("operator")
    assert client.post(reverse("scans:scan-now", args=[host.pk])).status_code == 302
    scan_id = Scan.objects.get(host=host).pk
    done = wait_for(
        lambda: Scan.objects.filter(pk=scan_id, status__in=Scan.FINISHED_STATUSES).first(),
        timeout=120,
        what="the scan to finish",
    )
    assert isinstance(done, Scan)
    return done


def test_a_containers_password_is_in_no_row_page_or_log(
    start_worker, containers, docker_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    in_env, on_command_line = f"env-{uuid.uuid4().hex}", f"argv-{uuid.uuid4().hex}"
    worker = start_worker()
    # The shell's own command line (in `ps`, and in the container's Cmd) holds the second password.
    containers(
        f"sleep 300; : --password={on_command_line}",
        environment={"DB_PASSWORD": in_env, "PLAIN": "not-secret"},
    )
    host = create_host("secrets", docker_url, facts_method=Host.Facts.LOCAL)

    scan = _run_scan(host)
    assert scan.status in (Scan.Status.SUCCEEDED, Scan.Status.PARTIAL), scan.error

    rows = _every_row_as_text()
    assert "DB_PASSWORD=<redacted:" in rows  # the name is kept, the value is a marker
    # S.1 names the variable as an open finding of its own; the harmless one is not a finding.
    s1 = Finding.objects.filter(host=host, check_id="S.1", state=Finding.State.OPEN)
    assert set(s1.values_list("detail", flat=True)) == {"DB_PASSWORD"}
    pages = _pages(persona_client("admin"), host, scan)
    for secret in (in_env, on_command_line):
        assert secret not in rows
        assert secret not in pages
        assert secret not in worker.log_text()
        assert secret not in caplog.text
