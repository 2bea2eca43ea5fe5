"""Live Clair lookups, against a real HTTP server on a real socket that replays recorded answers.

No Clair runs here (it needs its PostgreSQL, its updaters' vulnerability feeds from the internet and an
indexer that pulls the image), so the server below answers what Clair v4's matcher answers:
``GET /matcher/api/v1/vulnerability_report/{digest}`` gives a VulnerabilityReport (the recorded file
dockerbench/tests/fixtures/vulns/clair-ubuntu.json, in the documented quay/clair schema) for a manifest it
has indexed, and 404 for one it has not. The HTTP client, the timeouts and the retry bookkeeping are real.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from dockerbench.tests import factories as f
from hosts.models import Host
from vulns import lookups, services, tasks
from vulns.models import ImageReport, Lookup

pytestmark = pytest.mark.django_db

CLAIR_REPORT = (Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/vulns/clair-ubuntu.json").read_bytes()
INDEXED = "sha256:301cb1cd5cd582d4f26a836bf0cf2a89d968084c322d10f9b4a4cb2d575c9ea1"  # the fixture's manifest_hash
UNKNOWN = "sha256:" + "9" * 64
PREFIX = "/matcher/api/v1/vulnerability_report/"


class ClairReplay(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []
    mode = "normal"  # "normal", "error" (500 for everything), "slow" (answers after the client's timeout)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        ClairReplay.requests.append(self.path)
        if ClairReplay.mode == "slow":
            time.sleep(2.5)
        if ClairReplay.mode == "error":
            self._answer(500, b'{"code":"internal-error","message":"matcher: database unavailable"}')
        elif self.path == PREFIX + INDEXED:
            self._answer(200, CLAIR_REPORT)
        else:
            self._answer(404, b'{"code":"not-found","message":"index report not found"}')

    def _answer(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except BrokenPipeError:  # the client gave up (the timeout test)
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


@pytest.fixture
def clair(settings) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ClairReplay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ClairReplay.requests, ClairReplay.mode = [], "normal"
    url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.DOCKERBENCH_CLAIR_URL = url
    settings.DOCKERBENCH_TRIVY_SERVER = ""
    settings.DOCKERBENCH_LOOKUP_TIMEOUT = 1
    yield url
    server.shutdown()
    server.server_close()


def host_with(*digests: str) -> Host:
    host = Host.objects.create(name="web-1", url="unix:///var/run/docker.sock")
    images = [
        f.image(f"app{i}:1", iid="sha256:" + f"{i}" * 64, RepoDigests=[f"quay.io/shop/app{i}@{d}"])
        for i, d in enumerate(digests, start=1)
    ]
    services.record_host_images(host.pk, 1, f.snapshot(images=images))
    return host


def test_a_new_digest_is_asked_once_and_its_report_stored(clair: str) -> None:
    host = host_with(INDEXED)
    assert tasks.lookup_images(host.pk) == {"stored": 1, "failed": 0, "skipped": 0}
    report = ImageReport.objects.get()
    assert (report.scanner, report.source, report.digests) == ("clair", "lookup", [INDEXED])
    assert ClairReplay.requests == [PREFIX + INDEXED]
    # The next scan's lookup: the image has a report now, Clair is not asked again.
    assert tasks.lookup_images(host.pk) == {"stored": 0, "failed": 0, "skipped": 0}
    assert len(ClairReplay.requests) == 1


def test_a_digest_clair_has_not_indexed_waits_for_its_retry_after(clair: str) -> None:
    host = host_with(UNKNOWN)
    assert tasks.lookup_images(host.pk)["failed"] == 1
    lookup = Lookup.objects.get(key=UNKNOWN)
    assert "has not indexed this manifest" in lookup.error and lookup.failures == 1
    assert lookup.retry_after is not None and lookup.retry_after > timezone.now() + timedelta(minutes=300)
    assert tasks.lookup_images(host.pk) == {"stored": 0, "failed": 0, "skipped": 1}
    assert len(ClairReplay.requests) == 1  # not hammered
    Lookup.objects.filter(key=UNKNOWN).update(retry_after=timezone.now() - timedelta(seconds=1))
    assert tasks.lookup_images(host.pk)["failed"] == 1
    assert len(ClairReplay.requests) == 2 and Lookup.objects.get(key=UNKNOWN).failures == 2


def test_a_server_error_and_a_slow_server_are_failures_with_a_reason(clair: str) -> None:
    host = host_with(INDEXED)
    ClairReplay.mode = "error"
    assert tasks.lookup_images(host.pk)["failed"] == 1
    assert Lookup.objects.get(key=INDEXED).error == "Clair answered HTTP 500"
    Lookup.objects.update(retry_after=timezone.now())
    ClairReplay.mode = "slow"
    started = time.monotonic()
    assert tasks.lookup_images(host.pk)["failed"] == 1
    assert time.monotonic() - started < 2.4  # the 1 s timeout, not the server's 2.5 s
    assert "could not be reached" in Lookup.objects.get(key=INDEXED).error
    assert not ImageReport.objects.exists()


def test_a_server_that_is_down_is_a_failure(settings) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.DOCKERBENCH_CLAIR_URL = f"http://127.0.0.1:{port}"
    settings.DOCKERBENCH_TRIVY_SERVER = ""
    host = host_with(INDEXED)
    assert tasks.lookup_images(host.pk)["failed"] == 1
    assert "could not be reached" in Lookup.objects.get(key=INDEXED).error


def test_a_scan_with_lookups_configured_sends_the_task_on_commit(
    clair: str, django_capture_on_commit_callbacks
) -> None:
    host = Host.objects.create(name="web-2", url="unix:///var/run/docker.sock")
    with django_capture_on_commit_callbacks() as callbacks:
        services.record_host_images(host.pk, 1, f.snapshot(images=[f.image("a:1")]))
    assert len(callbacks) == 1


def test_trivy_is_not_used_without_its_binary(settings) -> None:
    settings.DOCKERBENCH_CLAIR_URL = ""
    settings.DOCKERBENCH_TRIVY_SERVER = "http://127.0.0.1:9"
    settings.DOCKERBENCH_LOOKUP_TIMEOUT = 1
    if lookups.trivy_client() is not None:
        pytest.fail("a trivy binary is on PATH here; this test expects none")
    with pytest.raises(lookups.LookupFailed, match="no trivy binary"):
        lookups.fetch_trivy("nginx:1.25")


def test_a_hosts_image_name_never_reaches_trivy_as_an_option(settings) -> None:
    settings.DOCKERBENCH_TRIVY_SERVER = "http://127.0.0.1:9"
    with pytest.raises(lookups.LookupFailed, match="not an image reference"):
        lookups.fetch_trivy("--output=/etc/passwd")
