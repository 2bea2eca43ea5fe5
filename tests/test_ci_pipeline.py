"""What a CI pipeline does with dockerbench, end to end, on the real test engine and a real dashboard.

One audit of the test dockerd writes SARIF (validated against the published SARIF 2.1.0 schema) and pushes its
snapshot with the host's push token; then a read-only API token reads that scan back over HTTP, and its
results and its SARIF export say what the CLI said. ``--fail-on WARN`` fails the job, and the push still lands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.utils import timezone

from api import services as api_services
from hosts.services import create_host, create_push_token
from scans.models import Scan
from tests.personas import make_user

ROOT = Path(__file__).resolve().parents[1]
SARIF_SCHEMA = json.loads((ROOT / "tests/vendor/sarif/sarif-schema-2.1.0.json").read_text())

pytestmark = pytest.mark.django_db(transaction=True)


def _request(url: str, token: str) -> urllib.request.Request:
    return urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - the live server


def _get(url: str, token: str) -> Any:
    with urllib.request.urlopen(_request(url, token), timeout=30) as response:  # noqa: S310 - the live server
        assert response.status == 200
        return json.loads(response.read())


def test_a_pipeline_audits_to_sarif_pushes_and_reads_the_scan_back(
    live_server: Any, docker_url: str, tmp_path: Path
) -> None:
    host = create_host("ci-runner", "tcp://ci-runner.example.invalid:2376")
    _push, push_token = create_push_token(host, name="pipeline")
    user = make_user("viewer")
    _token, api_token = api_services.create_token(
        user, name="pipeline", scope="read", expires=timezone.now().date() + timedelta(days=7)
    )
    sarif_file = tmp_path / "dockerbench.sarif"
    env = {**os.environ, "DOCKERBENCH_PUSH_TOKEN": push_token}

    job = subprocess.run(  # noqa: S603 - our own CLI, with this test's arguments
        [sys.executable, "-m", "dockerbench", "--host", docker_url, "--facts", "none", "--quiet",
         "--output", f"sarif={sarif_file}", "--fail-on", "WARN", "--push", f"{live_server.url}/api/v1/push/"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    # The test engine runs as Debian installs it, with WARN findings: the job fails, and says so by its code.
    assert job.returncode == 1, job.stderr
    sarif = json.loads(sarif_file.read_text())
    jsonschema.validate(sarif, SARIF_SCHEMA)
    cli_warn = sorted(r["ruleId"] for r in sarif["runs"][0]["results"] if r["level"] == "error")
    assert cli_warn, "the test engine has WARN findings"

    scan = Scan.objects.get(host=host)
    assert scan.trigger == Scan.Trigger.PUSH and f"recorded as scan #{scan.pk} of ci-runner" in job.stderr

    # Read back over HTTP, with a read-only token of a Viewer, as a pipeline's next step would.
    base = f"{live_server.url}/api/v1"
    listed = _get(f"{base}/scans/?host={host.pk}&trigger=push", api_token)
    assert [s["id"] for s in listed["results"]] == [scan.pk]
    detail = _get(f"{base}/scans/{scan.pk}/", api_token)
    assert detail["status"] in ("succeeded", "partial") and detail["warn"] == scan.warn_count > 0
    results = _get(f"{base}/scans/{scan.pk}/results/?page_size=500", api_token)
    api_warn = sorted(r["check_id"] for r in results["results"] if r["status"] == "WARN")
    # The dashboard judged the pushed snapshot with its own checks, and found what the CLI found.
    assert api_warn == cli_warn
    with urllib.request.urlopen(_request(f"{base}/scans/{scan.pk}/export/sarif/", api_token), timeout=30) as response:  # noqa: S310
        again = json.loads(response.read())
    jsonschema.validate(again, SARIF_SCHEMA)
    assert sorted(r["ruleId"] for r in again["runs"][0]["results"] if r["level"] == "error") == cli_warn
