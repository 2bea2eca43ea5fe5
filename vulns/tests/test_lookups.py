"""Live Clair and Quay lookups, against real HTTP servers on real sockets that replay recorded answers.

No Clair runs here (it needs its PostgreSQL, its updaters' vulnerability feeds from the internet and an
indexer that pulls the image), so the server below answers what Clair v4's matcher answers:
``GET /matcher/api/v1/vulnerability_report/{digest}`` gives a VulnerabilityReport (the recorded file
dockerbench/tests/fixtures/vulns/clair-ubuntu.json, in the documented quay/clair schema) for a manifest it
has indexed, and 404 for one it has not. The HTTP client, the timeouts and the retry bookkeeping are real.

No Quay runs here either (Red Hat Quay needs its PostgreSQL, Redis, object storage and a Clair with its feeds;
quay.io needs the internet and an account), so the Quay server below answers what Quay's documented
``GET /api/v1/repository/{namespace}/{name}/manifest/{digest}/security`` answers (endpoints/api/secscan.py in
quay/quay): the fixture dockerbench/tests/fixtures/vulns/quay-ubi.json for a scanned manifest,
``{"status": "queued", "data": null}`` for one not scanned yet, 404 for a repository or manifest it lacks, and
Quay's ApiError bodies for 401 and 403.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
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
    settings.DOCKERBENCH_QUAY_URL = ""
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
    assert tasks.lookup_images(host.pk) == {"stored": 1, "pending": 0, "failed": 0, "skipped": 0}
    report = ImageReport.objects.get()
    assert (report.scanner, report.source, report.digests) == ("clair", "lookup", [INDEXED])
    assert ClairReplay.requests == [PREFIX + INDEXED]
    # The next scan's lookup: the image has a report now, Clair is not asked again.
    assert tasks.lookup_images(host.pk) == {"stored": 0, "pending": 0, "failed": 0, "skipped": 0}
    assert len(ClairReplay.requests) == 1


def test_a_digest_clair_has_not_indexed_waits_for_its_retry_after(clair: str) -> None:
    host = host_with(UNKNOWN)
    assert tasks.lookup_images(host.pk)["failed"] == 1
    lookup = Lookup.objects.get(key=UNKNOWN)
    assert "has not indexed this manifest" in lookup.error and lookup.failures == 1
    assert lookup.retry_after is not None and lookup.retry_after > timezone.now() + timedelta(minutes=300)
    assert tasks.lookup_images(host.pk) == {"stored": 0, "pending": 0, "failed": 0, "skipped": 1}
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
    settings.DOCKERBENCH_QUAY_URL = ""
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


# -- Quay ----------------------------------------------------------------------------------------------

QUAY_REPORT = (Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/vulns/quay-ubi.json").read_bytes()
SCANNED = "sha256:36eecd7663aa628574150556a32c42b890afdc62835d0566f81f283f049d6768"  # the fixture's Layer.Name
QUEUED = "sha256:" + "5" * 64
UNSUPPORTED = "sha256:" + "6" * 64
TOKEN = "quay-oauth-token-0123456789"  # noqa: S105 - a made-up token the tests look for


def _security(repository: str, digest: str) -> str:
    return f"/api/v1/repository/{repository}/manifest/{digest}/security?vulnerabilities=true"


class QuayReplay(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, str]] = []  # (path, Authorization header)
    # "normal", "queued" (every digest), "any" (the fixture for every digest), "401", "403", "520", "redirect", "slow"
    mode = "normal"
    redirect_to = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        QuayReplay.requests.append((self.path, self.headers.get("Authorization", "")))
        mode = QuayReplay.mode
        if mode == "slow":
            time.sleep(2.5)
        if mode == "401":
            self._answer(401, b'{"error": "invalid_token", "detail": "Invalid bearer token", "status": 401}')
        elif mode == "403":
            self._answer(403, b'{"error_type": "insufficient_scope", "detail": "Unauthorized", "status": 403}')
        elif mode == "520":
            self._answer(520, b'{"error_type": "downstream_issue", "status": 520}')
        elif mode == "redirect":
            self._answer(302, b"", location=QuayReplay.redirect_to + self.path)
        elif mode == "queued" or self.path == _security("shop/api", QUEUED):
            self._answer(200, b'{"status": "queued", "data": null}')
        elif mode == "any" or self.path == _security("shop/api", SCANNED):
            self._answer(200, QUAY_REPORT)
        elif self.path == _security("shop/api", UNSUPPORTED):
            self._answer(200, b'{"status": "unsupported", "data": null}')
        else:
            self._answer(404, b'{"error_type": "not_found", "detail": "Not Found", "status": 404}')

    def _answer(self, status: int, body: bytes, location: str = "") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except BrokenPipeError:
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def quay(settings) -> Iterator[str]:
    """The Quay replay's registry host (127.0.0.1:PORT), which DOCKERBENCH_QUAY_URL names."""
    server = _serve(QuayReplay)
    QuayReplay.requests, QuayReplay.mode = [], "normal"
    registry = f"127.0.0.1:{server.server_address[1]}"
    settings.DOCKERBENCH_QUAY_URL = f"http://{registry}"
    settings.DOCKERBENCH_QUAY_TOKEN = TOKEN
    settings.DOCKERBENCH_CLAIR_URL = ""
    settings.DOCKERBENCH_TRIVY_SERVER = ""
    settings.DOCKERBENCH_LOOKUP_TIMEOUT = 1
    yield registry
    server.shutdown()
    server.server_close()


def host_running(*repo_digests: str) -> Host:
    host = Host.objects.create(name="quay-1", url="unix:///var/run/docker.sock")
    image = f.image("api:1", iid="sha256:" + "1" * 64, RepoDigests=list(repo_digests))
    services.record_host_images(host.pk, 1, f.snapshot(images=[image]))
    return host


def test_a_digest_on_quays_registry_is_asked_once_with_the_token(quay: str) -> None:
    host = host_running(f"{quay}/shop/api@{SCANNED}")
    assert tasks.lookup_images(host.pk) == {"stored": 1, "pending": 0, "failed": 0, "skipped": 0}
    assert QuayReplay.requests == [(_security("shop/api", SCANNED), f"Bearer {TOKEN}")]
    report = ImageReport.objects.get()
    assert (report.scanner, report.source, report.digests) == ("quay", "lookup", [SCANNED])
    assert report.artifact == f"{quay}/shop/api@{SCANNED}"
    assert (report.critical, report.high, report.fixable_critical) == (2, 3, 1)
    assert Lookup.objects.get(service="quay").ok
    assert tasks.lookup_images(host.pk) == {"stored": 0, "pending": 0, "failed": 0, "skipped": 0}
    assert len(QuayReplay.requests) == 1


def test_without_a_token_no_authorization_is_sent(quay: str, settings) -> None:
    settings.DOCKERBENCH_QUAY_TOKEN = ""
    tasks.lookup_images(host_running(f"{quay}/shop/api@{SCANNED}").pk)
    assert QuayReplay.requests == [(_security("shop/api", SCANNED), "")]  # a public repository needs none


def test_only_digests_of_quays_own_registry_are_asked(quay: str) -> None:
    port = quay.rpartition(":")[2]
    host = host_running(
        f"docker.io/library/nginx@{SCANNED}",  # another registry
        f"nginx@{SCANNED}",  # Docker Hub, written short
        f"localhost:{port}/shop/api@{SCANNED}",  # the same server under another name: not known to be Quay
        f"{quay}/api@{SCANNED}",  # no namespace: not a Quay repository
        f"{quay}/shop/api@sha256:{'0' * 63}",  # not a digest
    )
    assert tasks.lookup_images(host.pk) == {"stored": 0, "pending": 0, "failed": 0, "skipped": 0}
    assert QuayReplay.requests == []


def test_a_digest_in_two_repositories_is_asked_once(quay: str) -> None:
    QuayReplay.mode = "any"
    host = host_running(f"{quay}/shop/api@{SCANNED}", f"{quay}/mirror/api@{SCANNED}", f"{quay}/a/b/c@{QUEUED}")
    assert tasks.lookup_images(host.pk)["stored"] == 1
    assert [p for p, _ in QuayReplay.requests] == [_security("shop/api", SCANNED)]  # then the image is covered


def test_a_queued_manifest_is_pending_and_asked_again_soon(quay: str) -> None:
    host = host_running(f"{quay}/shop/api@{SCANNED}")
    QuayReplay.mode = "queued"
    assert tasks.lookup_images(host.pk) == {"stored": 0, "pending": 1, "failed": 0, "skipped": 0}
    lookup = Lookup.objects.get(key=SCANNED)
    assert (lookup.ok, lookup.failures) == (False, 0)  # not a failure
    assert lookup.error == "Quay's answer: Quay has not scanned this manifest yet (queued)"
    assert lookup.retry_after is not None
    assert timezone.now() + timedelta(minutes=14) < lookup.retry_after < timezone.now() + timedelta(minutes=16)
    assert tasks.lookup_images(host.pk) == {"stored": 0, "pending": 0, "failed": 0, "skipped": 1}
    assert len(QuayReplay.requests) == 1
    # Quay has scanned it since: the lookup after the retry-after stores the report.
    Lookup.objects.update(retry_after=timezone.now() - timedelta(seconds=1))
    QuayReplay.mode = "normal"
    assert tasks.lookup_images(host.pk) == {"stored": 1, "pending": 0, "failed": 0, "skipped": 0}
    lookup = Lookup.objects.get(key=SCANNED)
    assert (lookup.ok, lookup.failures, lookup.error) == (True, 0, "")


@pytest.mark.parametrize(
    ("mode", "digest", "token", "reason"),
    [
        ("normal", "sha256:" + "9" * 64, TOKEN, "Quay has no manifest sha256:9999"),
        ("normal", UNSUPPORTED, TOKEN, "Quay's scanner does not support this manifest"),
        ("401", SCANNED, TOKEN, "Quay refused DOCKERBENCH_QUAY_TOKEN (HTTP 401): it is not a valid OAuth access token"),
        ("401", SCANNED, "", "Quay wants a token for shop/api (HTTP 401): set DOCKERBENCH_QUAY_TOKEN"),
        ("403", SCANNED, TOKEN, "Quay denied access to shop/api (HTTP 403): the token needs the repo:read scope"),
        ("520", SCANNED, TOKEN, "Quay answered HTTP 520: it could not load the report from its security scanner"),
        ("any", "sha256:" + "4" * 64, TOKEN, "data.Layer.Name is sha256:36eecd"),  # an answer about another manifest
    ],
)
def test_quays_refusals_are_failures_with_a_clear_reason(
    quay: str, settings, mode: str, digest: str, token: str, reason: str
) -> None:
    settings.DOCKERBENCH_QUAY_TOKEN = token
    QuayReplay.mode = mode
    host = host_running(f"{quay}/shop/api@{digest}")
    assert tasks.lookup_images(host.pk) == {"stored": 0, "pending": 0, "failed": 1, "skipped": 0}
    lookup = Lookup.objects.get(key=digest)
    assert reason in lookup.error and lookup.failures == 1
    assert lookup.retry_after is not None and lookup.retry_after > timezone.now() + timedelta(minutes=300)
    assert TOKEN not in lookup.error and not ImageReport.objects.exists()


def test_a_redirect_is_not_followed_so_the_token_stays_with_quay(quay: str) -> None:
    class Elsewhere(QuayReplay):
        seen: list[str] = []

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            Elsewhere.seen.append(self.headers.get("Authorization", ""))
            self._answer(200, QUAY_REPORT)

    other = _serve(Elsewhere)
    try:
        QuayReplay.mode, QuayReplay.redirect_to = "redirect", f"http://127.0.0.1:{other.server_address[1]}"
        assert tasks.lookup_images(host_running(f"{quay}/shop/api@{SCANNED}").pk)["failed"] == 1
    finally:
        other.shutdown()
        other.server_close()
    assert Elsewhere.seen == []
    assert "Quay answered HTTP 302, a redirect to 'http://127.0.0.1:" in Lookup.objects.get(key=SCANNED).error


def test_a_slow_quay_is_a_failure_after_the_timeout(quay: str) -> None:
    QuayReplay.mode = "slow"
    started = time.monotonic()
    assert tasks.lookup_images(host_running(f"{quay}/shop/api@{SCANNED}").pk)["failed"] == 1
    assert time.monotonic() - started < 2.4
    assert "Quay could not be reached" in Lookup.objects.get(key=SCANNED).error


@pytest.mark.parametrize(
    ("url", "repo_digest", "asked"),
    [
        ("https://quay.io", f"quay.io/shop/api@{SCANNED}", ("shop/api", SCANNED)),
        ("https://quay.io/", f"QUAY.IO/shop/api@{SCANNED}", ("shop/api", SCANNED)),
        ("https://quay.io", f"quay.io:443/org/team/api@{SCANNED}", ("org/team/api", SCANNED)),
        ("https://quay.internal:8443", f"quay.internal:8443/shop/api@{SCANNED}", ("shop/api", SCANNED)),
        ("https://quay.internal:8443", f"quay.internal/shop/api@{SCANNED}", None),
        ("https://quay.io", f"docker.io/shop/api@{SCANNED}", None),
        ("https://quay.io", f"shop/api@{SCANNED}", None),  # docker.io/shop/api
        ("https://quay.io", f"quay.io/shop/API@{SCANNED}", None),
        ("", f"quay.io/shop/api@{SCANNED}", None),
    ],
)
def test_which_repo_digests_quay_is_asked_about(settings, url: str, repo_digest: str, asked: object) -> None:
    settings.DOCKERBENCH_QUAY_URL = url.rstrip("/")
    assert lookups.quay_repository(repo_digest) == asked


def test_the_quay_url_must_be_an_http_url() -> None:
    def load_settings(url: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOCKERBENCH_"))}
        env.update(DJANGO_SECRET_KEY="test-only-key", DOCKERBENCH_QUAY_URL=url)  # noqa: S106 - a throwaway
        code = "import config.settings"
        root = Path(__file__).resolve().parents[2]
        return subprocess.run(  # noqa: S603 - this interpreter, a fixed snippet
            [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    for wrong in ("quay.io", "ftp://quay.io", "https://"):
        proc = load_settings(wrong)
        assert proc.returncode != 0 and "DOCKERBENCH_QUAY_URL must be an http:// or https:// URL" in proc.stderr
    fine = load_settings("https://quay.io")
    assert fine.returncode == 0, fine.stderr
