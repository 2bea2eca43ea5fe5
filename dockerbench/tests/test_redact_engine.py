"""Other teams' secrets never reach a snapshot or a report: the real CLI against the real dockerd.

A container holds one password in its environment and another in its command line; an image
built here holds a token in an ENV instruction, a password and a URL password in a RUN line and a
build argument. The CLI's text report, JSON report and saved snapshot must hold none of them, and
still name the variables.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:8]
LABEL = {"dockerbench.test": f"redact-{RUN}"}


@pytest.fixture(scope="module")
def planted(docker_url: str, test_image: str) -> Iterator[dict[str, Any]]:
    """The secrets, planted on the engine in a running container and a built image."""
    values = {part: str(uuid.uuid4()) for part in ("env", "cmd", "image_env", "run_flag", "run_url", "build_arg")}
    client = docker.from_env(environment={"DOCKER_HOST": docker_url})
    tag = f"dockerbench/redact:{RUN}"
    dockerfile = (
        f"FROM {test_image}\n"
        "ARG BUILD_SECRET\n"
        f"ENV API_TOKEN={values['image_env']} APP_MODE=quiet\n"
        f"RUN echo --password={values['run_flag']} >/dev/null"
        f" && echo postgres://app:{values['run_url']}@db.invalid/app >/dev/null"
        ' && test -n "$BUILD_SECRET"\n'
    )
    created: list[Any] = []
    try:
        client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()),
            tag=tag,
            rm=True,
            buildargs={"BUILD_SECRET": values["build_arg"]},
            labels=LABEL,
        )
        created.append(
            client.containers.run(
                test_image,
                ["sh", "-c", f"sleep 300; : --password={values['cmd']}"],
                environment={"DB_PASSWORD": values["env"]},
                name=f"redact-{RUN}-app",
                labels=LABEL,
                detach=True,
            )
        )
        created.append(
            client.containers.run(tag, ["sleep", "300"], name=f"redact-{RUN}-built", labels=LABEL, detach=True)
        )
        # sh forks sleep (a command follows it), so the container shows two processes once it is up.
        deadline = time.monotonic() + 20
        while len(created[0].top()["Processes"]) < 2:
            assert time.monotonic() < deadline, "the container's processes did not start"
            time.sleep(0.05)
        history = [h["CreatedBy"] for h in client.api.history(tag)]
        inspect = client.api.inspect_container(created[0].id)
        # What the engine itself shows: the secrets are really there to be leaked.
        assert f"DB_PASSWORD={values['env']}" in inspect["Config"]["Env"]
        assert any(values["image_env"] in h for h in history)
        assert any(f"BUILD_SECRET={values['build_arg']}" in h for h in history)
        yield {"values": values, "tag": tag, "container": f"redact-{RUN}-app"}
    finally:
        for c in created:
            c.remove(force=True)
        with contextlib.suppress(docker.errors.ImageNotFound):  # the build failed
            client.images.remove(tag, force=True)
        client.close()


def _cli(docker_url: str, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CERT_PATH")}
    env.pop("DOCKERBENCH_REDACT_KEY", None)
    if key is not None:
        env["DOCKERBENCH_REDACT_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "dockerbench", "-H", docker_url, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("facts", ["local", "none"])  # processes from the host's /proc, and from docker top
def test_the_cli_reports_and_saves_no_secret_but_names_the_variables(
    docker_url: str, planted: dict[str, Any], tmp_path: Path, facts: str
) -> None:
    report, saved = tmp_path / "report.json", tmp_path / "snapshot.json"
    key = f"key-{RUN}"
    proc = _cli(
        docker_url, "--facts", facts, "--json", str(report), "--save-snapshot", str(saved), "-v", "--no-color", key=key
    )
    assert proc.returncode == 0, proc.stderr
    outputs = {"text": proc.stdout + proc.stderr, "json": report.read_text(), "snapshot": saved.read_text()}
    for where, text in outputs.items():
        leaked = [part for part, value in planted["values"].items() if value in text]
        assert leaked == [], f"{where} holds {leaked}"

    snap = json.loads(outputs["snapshot"])
    (app,) = [c for c in snap["containers"] if c["name"] == planted["container"]]
    digest = hmac.new(key.encode(), planted["values"]["env"].encode(), hashlib.sha256).hexdigest()[:16]
    assert f"DB_PASSWORD=<redacted:secret,len=36,hmac={digest}>" in app["inspect"]["Config"]["Env"]
    assert "--password=<redacted:secret,len=36," in app["inspect"]["Args"][1]
    assert snap["connection"]["sources"]["top"].get("host" if facts == "local" else "api")
    cmds = [row[-1] for row in app["top"]["Processes"]]
    assert any(cmd.startswith("sh -c sleep 300; : --password=<redacted:secret,len=36,") for cmd in cmds), cmds

    (image,) = [i for i in snap["images"] if planted["tag"] in i["tags"]]
    assert any(e.startswith("API_TOKEN=<redacted:secret,len=36,") for e in image["inspect"]["Config"]["Env"])
    history = "\n".join(h["CreatedBy"] for h in image["history"])
    assert "ENV API_TOKEN=<redacted:secret,len=36," in history
    assert "BUILD_SECRET=<redacted:secret,len=36," in history
    assert "postgres://app:<redacted:secret,len=36," in history
    assert "APP_MODE=quiet" in history  # an ordinary value in a history line stays readable

    doc = json.loads(outputs["json"])
    (secrets_check,) = [c for c in doc["checks"] if c["id"] == "4.10"]
    (finding,) = [r for r in secrets_check["results"] if r["object"] and r["object"]["name"] == planted["tag"]]
    assert finding["status"] == "INFO"
    # The variables; the --password flag and the URL password are in the history line it lists.
    assert finding["evidence"]["variables"] == ["API_TOKEN", "BUILD_SECRET"]
    secrets = [s for line in finding["evidence"]["lines"] for s in line["secrets"]]
    assert [(s["variable"], s["reason"]) for s in secrets] == [
        ("BUILD_SECRET", "name"),
        ("--password", "flag"),
        ("postgres://app@db.invalid", "value"),
        ("API_TOKEN", "name"),
    ]
    assert "API_TOKEN" in proc.stdout
