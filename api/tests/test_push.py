"""POST /api/v1/push/: a host's push token adds a scan of its host, once per snapshot; everything else is a
JSON error and stores nothing. Through Django's test client, and over real HTTP to a live server."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client
from django.urls import reverse

from hosts.models import PushToken
from hosts.services import create_host, create_push_token, revoke_push_token
from scans.models import Finding, Scan, ScanSnapshot
from tests.personas import persona_client

FIXTURES = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/hosts"
URL = "/api/v1/push/"


def snapshot_bytes(name: str = "misconfigured") -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


@pytest.fixture
def pushed() -> tuple[PushToken, str]:
    host = create_host("web-1", "tcp://web-1.example.invalid:2376")
    return create_push_token(host, name="cron")


def push(client: Client, data: bytes, plaintext: str | None, **extra: Any):
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"} if plaintext else {}
    content_type = extra.pop("content_type", "application/json")
    return client.generic("POST", URL, data, content_type=content_type, **headers, **extra)


def assert_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {"error", "detail"} and data["error"] == error and data["detail"]
    return data


def nothing_stored() -> None:
    assert not Scan.objects.exists() and not Finding.objects.exists() and not ScanSnapshot.objects.exists()


@pytest.mark.django_db
class TestWithTheTestClient:
    def test_a_new_snapshot_is_a_new_scan_and_the_same_again_is_that_scan(self, pushed) -> None:
        token, plaintext = pushed
        client = Client()
        first = push(client, snapshot_bytes(), plaintext)
        assert first.status_code == 201, first.content
        data = first.json()
        scan = Scan.objects.get()
        assert data["scan"] == scan.pk and data["created"] is True and data["host"] == "web-1"
        assert data["url"] == f"http://testserver{reverse('scans:scan', args=[scan.pk])}" == first["Location"]
        assert scan.trigger == Scan.Trigger.PUSH and scan.host == token.host
        assert "no-cache" in first["Cache-Control"]

        again = push(client, gzip.compress(snapshot_bytes()), plaintext, HTTP_CONTENT_ENCODING="gzip")
        assert again.status_code == 200 and again.json()["scan"] == scan.pk and again.json()["created"] is False
        assert Scan.objects.count() == 1
        token.refresh_from_db()
        assert token.last_used is not None

    @pytest.mark.parametrize(
        "authorization",
        [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer dbp_not-a-token", "Token {token}", "Bearer {token}x"],
    )
    def test_without_the_exact_token_it_is_401(self, pushed, authorization) -> None:
        _token, plaintext = pushed
        headers = {"HTTP_AUTHORIZATION": authorization.format(token=plaintext)} if authorization else {}
        response = Client().generic("POST", URL, snapshot_bytes(), content_type="application/json", **headers)
        assert_error(response, 401, "unauthorized")
        assert response["WWW-Authenticate"].startswith("Bearer")
        nothing_stored()

    def test_a_logged_in_account_is_no_token(self, pushed) -> None:
        response = persona_client("admin").generic("POST", URL, snapshot_bytes(), content_type="application/json")
        assert_error(response, 401, "unauthorized")
        nothing_stored()

    def test_a_revoked_token_is_403(self, pushed) -> None:
        token, plaintext = pushed
        revoke_push_token(token)
        assert "revoked" in assert_error(push(Client(), snapshot_bytes(), plaintext), 403, "token_revoked")["detail"]
        nothing_stored()

    def test_only_post(self, pushed) -> None:
        _token, plaintext = pushed
        response = Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        assert_error(response, 405, "method_not_allowed")
        assert response["Allow"] == "POST"

    def test_a_malformed_snapshot_is_400_and_says_where(self, pushed) -> None:
        _token, plaintext = pushed
        doc = json.loads(snapshot_bytes())
        doc["containers"][0]["running"] = "yes"
        data = assert_error(push(Client(), json.dumps(doc).encode(), plaintext), 400, "invalid")
        assert "containers[0].running is a string, not true or false" in data["detail"]
        assert "not valid JSON" in assert_error(push(Client(), b"{", plaintext), 400, "invalid")["detail"]
        nothing_stored()

    def test_too_large_is_413_before_and_after_decompression(self, pushed, settings) -> None:
        _token, plaintext = pushed
        settings.DOCKERBENCH_PUSH_MAX_BYTES = 100_000
        assert (
            "the limit is 100,000"
            in assert_error(push(Client(), b" " * 100_001, plaintext), 413, "too_large")["detail"]
        )
        bomb = gzip.compress(b" " * 10_000_000)
        assert len(bomb) < 100_000
        data = assert_error(push(Client(), bomb, plaintext, HTTP_CONTENT_ENCODING="gzip"), 413, "too_large")
        assert "once decompressed" in data["detail"]
        nothing_stored()

    def test_not_json_is_415(self, pushed) -> None:
        _token, plaintext = pushed
        assert_error(
            push(Client(), snapshot_bytes(), plaintext, content_type="text/plain"), 415, "unsupported_media_type"
        )
        assert_error(
            push(Client(), snapshot_bytes(), plaintext, content_type="application/x-www-form-urlencoded"),
            415,
            "unsupported_media_type",
        )
        nothing_stored()

    def test_a_push_while_the_host_is_being_scanned_is_409(self, pushed) -> None:
        token, plaintext = pushed
        Scan.objects.create(host=token.host, status=Scan.Status.QUEUED)
        assert_error(push(Client(), snapshot_bytes(), plaintext), 409, "busy")
        assert Scan.objects.count() == 1

    def test_a_token_pushing_too_often_is_429_until_the_hour_is_over(self, pushed, settings) -> None:
        token, plaintext = pushed
        settings.DOCKERBENCH_PUSH_RATE_PER_HOUR = 2
        # A cache of this test's own: the shared Redis one is cleared by other test runs now and then.
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "push"}}
        assert push(Client(), snapshot_bytes(), plaintext).status_code == 201
        assert push(Client(), snapshot_bytes(), plaintext).status_code == 200
        refused = push(Client(), snapshot_bytes("hardened"), plaintext)
        assert_error(refused, 429, "rate_limited")
        assert 0 < int(refused["Retry-After"]) <= 3600
        assert Scan.objects.count() == 1
        # Another host's token has its own count.
        other = create_push_token(create_host("db-1", "tcp://db-1.example.invalid:2376"), name="cron")[1]
        assert push(Client(), snapshot_bytes("hardened"), other).status_code == 201

    def test_a_token_adds_scans_of_its_own_host_only(self, pushed) -> None:
        token, plaintext = pushed
        other = create_host("db-1", "tcp://db-1.example.invalid:2376")
        assert push(Client(), snapshot_bytes(), plaintext).status_code == 201
        assert not Scan.objects.filter(host=other).exists()
        assert Scan.objects.get().host == token.host


@pytest.mark.django_db(transaction=True)
def test_a_push_over_real_http_is_recorded_once(live_server: Any) -> None:
    _token, plaintext = create_push_token(create_host("web-1", "tcp://web-1.example.invalid:2376"), name="cron")
    url = f"{live_server.url}{URL}"
    headers = {
        "Authorization": f"Bearer {plaintext}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    body = gzip.compress(snapshot_bytes())
    first = requests.post(url, data=body, headers=headers, timeout=30)
    assert first.status_code == 201, first.text
    scan = Scan.objects.get(pk=first.json()["scan"])
    assert scan.trigger == Scan.Trigger.PUSH and scan.status in Scan.SCORED_STATUSES
    assert first.json()["url"] == f"{live_server.url}{reverse('scans:scan', args=[scan.pk])}"
    second = requests.post(url, data=body, headers=headers, timeout=30)
    assert second.status_code == 200 and second.json()["scan"] == scan.pk
    refused = requests.post(url, data=b"{}", headers={"Content-Type": "application/json"}, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert Scan.objects.count() == 1


# -- the CLI: python -m dockerbench --push, against the test dockerd and a live server --------------------------

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKERBENCH_PUSH")}
    if token is not None:
        env["DOCKERBENCH_PUSH_TOKEN"] = token
    return subprocess.run(  # noqa: S603 - our own CLI, with arguments of this test
        [sys.executable, "-m", "dockerbench", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.django_db(transaction=True)
def test_the_cli_audits_the_test_engine_and_pushes_it_once(live_server: Any, docker_url: str, tmp_path: Path) -> None:
    token, plaintext = create_push_token(create_host("web-1", "tcp://web-1.example.invalid:2376"), name="cron")
    url = f"{live_server.url}{URL}"
    saved = tmp_path / "snapshot.json"

    first = run_cli("--host", docker_url, "--facts", "none", "--quiet", "--save-snapshot", str(saved), "--push", url,
                    token=plaintext)  # fmt: skip
    assert first.returncode == 0, first.stderr
    scan = Scan.objects.get()
    assert scan.host == token.host and scan.trigger == Scan.Trigger.PUSH and scan.status in Scan.SCORED_STATUSES
    assert f"dockerbench: pushed: recorded as scan #{scan.pk} of web-1" in first.stderr
    assert first.stdout == ""  # --quiet
    assert json.loads(scan.raw.unpack())["target"] == docker_url

    # The snapshot it saved is the one it pushed: pushed again (twice), it is that scan, and no new one.
    for _ in range(2):
        again = run_cli("--snapshot", str(saved), "--quiet", "--push", url, token=plaintext)
        assert again.returncode == 0, again.stderr
        assert f"already recorded, as scan #{scan.pk} of web-1" in again.stderr
    assert Scan.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_cli_says_why_a_push_failed_with_its_exit_code(live_server: Any, tmp_path: Path) -> None:
    token, plaintext = create_push_token(create_host("web-1", "tcp://web-1.example.invalid:2376"), name="cron")
    snapshot = str(FIXTURES / "misconfigured.json")
    url = f"{live_server.url}{URL}"

    wrong = run_cli("--snapshot", snapshot, "--quiet", "--push", url, token=plaintext[:-1] + "x")
    assert wrong.returncode == 4 and "the dashboard answered 401 Unauthorized: unauthorized:" in wrong.stderr

    Scan.objects.create(host=token.host, status=Scan.Status.RUNNING, attempts=1)
    busy = run_cli("--snapshot", snapshot, "--quiet", "--push", url, token=plaintext)
    assert busy.returncode == 3 and "409" in busy.stderr and "queued or running" in busy.stderr

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    unreachable = run_cli("--snapshot", snapshot, "--quiet", "--push", f"http://127.0.0.1:{port}/api/v1/push/",
                          token=plaintext)  # fmt: skip
    assert unreachable.returncode == 3 and "cannot reach" in unreachable.stderr

    clear = run_cli("--snapshot", snapshot, "--push", "http://dash.example.invalid/api/v1/push/", token=plaintext)
    assert clear.returncode == 2 and "plain http" in clear.stderr
    missing = run_cli("--snapshot", snapshot, "--push", url)
    assert missing.returncode == 2 and "--push needs the host's push token" in missing.stderr
    assert Scan.objects.filter(trigger=Scan.Trigger.PUSH).count() == 0
