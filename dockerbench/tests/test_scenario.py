"""A full audit of a real dockerd running misconfigured and hardened containers.

Every container here is started for real, except the two this VM cannot run
(``--privileged`` and an ``:rshared`` mount): those are ``docker create``d and
audited from their real inspect data, see test_created_only_containers.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import tarfile
import uuid

import docker
import pytest

from dockerbench.catalog import EXTRA_RECOMMENDATIONS
from dockerbench.collect import CollectOptions, Target, collect_snapshot
from dockerbench.collect.docker_api import api_diff
from dockerbench.report import check_status, group_by_check, render_json, render_text
from dockerbench.results import Status
from dockerbench.runner import evaluate

pytestmark = pytest.mark.docker

RUN = uuid.uuid4().hex[:6]
LABEL = {"dockerbench.test": f"scenario-{RUN}"}
HOSTILE = "<img src=x onerror=alert(1)>"


def name(short: str) -> str:
    return f"dbs-{RUN}-{short}"


@pytest.fixture(scope="module")
def sshd_image(docker_url, test_image, tmp_path_factory):
    """The test image plus a real executable at /usr/sbin/sshd, so `top` shows an sshd process.

    busybox picks its applet from argv[0], so it cannot pose as sshd: a tiny
    static C program that just waits does.
    """
    work = tmp_path_factory.mktemp("sshd")
    (work / "sshd.c").write_text("#include <unistd.h>\nint main(void) { for (;;) pause(); }\n")
    subprocess.run(["gcc", "-static", "-O2", "-o", str(work / "sshd"), str(work / "sshd.c")], check=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dockerfile = f"FROM {test_image}\nCOPY sshd /usr/sbin/sshd\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(work / "sshd", arcname="sshd")
    buf.seek(0)
    client = docker.from_env(environment={"DOCKER_HOST": docker_url})
    tag = f"dockerbench/sshd:{RUN}"
    client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True, labels=LABEL)
    yield tag
    client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def scenario(docker_url, test_image, sshd_image):
    client = docker.from_env(environment={"DOCKER_HOST": docker_url})
    sock = docker_url.removeprefix("unix://")
    run = {"image": test_image, "command": ["sleep", "3600"], "detach": True, "labels": LABEL}
    specs = {
        "rootrw": {"volumes": {"/": {"bind": "/hostroot", "mode": "rw"}}},
        "sshd": {"image": sshd_image, "command": ["/usr/sbin/sshd", "-D"]},
        "lowport": {},  # ports set below
        "hostns": {"network_mode": "host", "pid_mode": "host", "ipc_mode": "host", "uts_mode": "host"},
        "sock": {"volumes": {sock: {"bind": "/var/run/docker.sock", "mode": "ro"}}},
        "always": {"restart_policy": {"Name": "always"}},
        "caps": {"cap_add": ["NET_ADMIN", "SYS_ADMIN"]},
        "unconfined": {"security_opt": ["seccomp=unconfined"]},
        "nolimits": {},
        "hardened": {
            "read_only": True,
            "tmpfs": {"/tmp": "rw,noexec,nosuid,size=8m"},
            "user": "65534:65534",
            "mem_limit": "64m",
            "cpu_shares": 512,
            "pids_limit": 64,
            "security_opt": ["no-new-privileges:true"],
            "cap_drop": ["ALL"],
            "healthcheck": {"test": ["CMD", "true"], "interval": 5_000_000_000},
            "ports": {"8080/tcp": ("127.0.0.1", None)},
            "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 5},
        },
    }
    # Host port 80 below 1024, on every interface: pick a free low port.
    low = 800 + int(RUN, 16) % 150
    specs["lowport"]["ports"] = {"80/tcp": ("0.0.0.0", low)}  # noqa: S104 - the finding under test
    created = []
    try:
        for short, extra in specs.items():
            kwargs = {**run, **extra, "name": name(short)}
            if short == "hostns":
                kwargs["labels"] = {**LABEL, "note": HOSTILE}
            created.append(client.containers.run(**kwargs))
        yield {"client": client, "names": {short: name(short) for short in specs}, "low_port": low}
    finally:
        for c in created:
            c.remove(force=True)


@pytest.fixture(scope="module")
def audit(docker_url, scenario):
    snap = collect_snapshot(Target(docker_url), CollectOptions(facts="local"))
    return snap, evaluate(snap)


def offenders(results, check_id, status=Status.WARN):
    """Names of our scenario containers with the given status for a check."""
    prefix = f"dbs-{RUN}-"
    return {
        r.object.name.removeprefix(prefix)
        for r in results
        if r.check_id == check_id and r.status is status and r.object and r.object.name.startswith(prefix)
    }


EVERYONE = {"rootrw", "sshd", "lowport", "hostns", "sock", "always", "caps", "unconfined", "nolimits", "hardened"}
MISCONFIGURED = EVERYONE - {"hardened"}


@pytest.mark.parametrize(
    ("check_id", "expected"),
    [
        ("5.4", {"caps"}),
        ("5.6", {"rootrw"}),
        ("5.7", {"sshd"}),
        ("5.8", {"lowport"}),
        ("5.10", {"hostns"}),
        ("5.11", MISCONFIGURED),
        ("5.12", MISCONFIGURED),
        ("5.13", MISCONFIGURED),
        ("5.14", {"lowport"}),
        ("5.15", {"always"}),
        ("5.16", {"hostns"}),
        ("5.17", {"hostns"}),
        ("5.21", {"hostns"}),
        ("5.22", {"unconfined"}),
        ("5.26", MISCONFIGURED),
        ("5.27", MISCONFIGURED),
        ("5.29", MISCONFIGURED),
        # "/" mounted holds the daemon's socket too.
        ("5.32", {"sock", "rootrw"}),
    ],
)
def test_it_names_exactly_the_offending_containers(audit, check_id, expected):
    _snap, results = audit
    assert offenders(results, check_id) == expected


def test_the_hardened_container_offends_no_runtime_check(audit):
    _snap, results = audit
    hardened = {
        r.check_id for r in results if r.object and r.object.name == name("hardened") and r.status is Status.WARN
    }
    assert hardened == set()


def test_evidence_names_the_flag_and_value(audit, scenario):
    _snap, results = audit
    (caps,) = [r for r in results if r.check_id == "5.4" and r.object and r.object.name == name("caps")]
    assert {"NET_ADMIN", "SYS_ADMIN"} <= set(json.dumps(caps.evidence).replace('"', " ").split())
    (low,) = [r for r in results if r.check_id == "5.8" and r.object and r.object.name == name("lowport")]
    assert str(scenario["low_port"]) in json.dumps(low.evidence)
    (rootrw,) = [r for r in results if r.check_id == "5.6" and r.object and r.object.name == name("rootrw")]
    assert "/" in json.dumps(rootrw.evidence)


def test_every_check_has_a_verdict_and_none_crashed(audit):
    _snap, results = audit
    grouped = group_by_check(results)
    assert len(grouped) == 117 + len(EXTRA_RECOMMENDATIONS)  # the CIS checks and our own (S.x)
    errors = [(r.check_id, r.message) for r in results if r.status is Status.ERROR]
    assert errors == []


def test_host_facts_were_gathered_locally_and_nothing_is_skipped_for_runtime(audit):
    snap, results = audit
    assert snap.facts is not None and snap.facts.method == "local"
    assert snap.facts.dockerd is not None
    skipped_runtime = [r.check_id for r in results if r.check_id.startswith("5.") and r.status is Status.SKIP]
    assert skipped_runtime == []


def test_reports_render_hostile_labels_as_data(audit):
    snap, results = audit
    text = render_text(snap, results, verbose=True)
    assert "\x1b" not in text
    doc = render_json(snap, results)
    assert json.loads(json.dumps(doc))["summary"]["checks"] == 117 + len(EXTRA_RECOMMENDATIONS)
    hostns = next(c for c in snap.containers if c.name == name("hostns"))
    assert hostns.labels["note"] == HOSTILE


def test_created_only_containers(docker_url, test_image):
    """--privileged and :rshared cannot start on this VM (a withheld capability,
    / is not a shared mount), so they are created, collected as they are, and
    marked running in the snapshot: the checks then see exactly the inspect
    data a running one would have."""
    client = docker.from_env(environment={"DOCKER_HOST": docker_url})
    made = [
        client.containers.create(test_image, ["sleep", "3600"], name=name("priv"), privileged=True, labels=LABEL),
        client.containers.create(
            test_image,
            ["sleep", "3600"],
            name=name("rshared"),
            labels=LABEL,
            volumes={"/tmp": {"bind": "/shared", "mode": "rw,rshared"}},
        ),
    ]
    try:
        snap = collect_snapshot(Target(docker_url), CollectOptions(facts="none"))
    finally:
        for c in made:
            c.remove(force=True)
    ours = {name("priv"), name("rshared")}
    as_running = tuple(
        dataclasses.replace(c, running=True, top={"Titles": ["PID", "CMD"], "Processes": [["1", "sleep 3600"]]})
        for c in snap.containers or ()
        if c.name in ours
    )
    assert len(as_running) == 2
    results = evaluate(dataclasses.replace(snap, containers=as_running))
    assert offenders(results, "5.5") == {"priv"}
    assert offenders(results, "5.20") == {"rshared"}
    grouped = group_by_check(results)
    assert check_status(grouped["5.5"]) is Status.WARN


def test_cli_audits_the_engine_and_fails_on_warn(docker_url, scenario, tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dockerbench",
            "-H",
            docker_url,
            "--facts",
            "local",
            "--json",
            str(out),
            "-s",
            "5",
            "--fail-on",
            "WARN",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "[WARN] 5.5" in proc.stdout or "[PASS] 5.5" in proc.stdout
    assert f"dbs-{RUN}-caps" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["schema"] == "dockerbench.report/1"
    assert {c["id"] for c in doc["checks"]} == {f"5.{i}" for i in range(1, 33)}


def test_every_containers_diff_read_from_the_host_is_the_apis(audit, scenario):
    """A local audit reads each diff from the container's layers (collect.overlay_diff): the API's answer."""
    snap, _ = audit
    api = scenario["client"].api
    ours = [c for c in snap.containers or () if c.name in set(scenario["names"].values())]
    assert len(ours) == len(scenario["names"])
    for c in ours:
        # dockerd lists siblings in Go's map order, which changes from call to call: compare the entries.
        assert c.diff is not None, c.name
        assert sorted((e.path, e.kind) for e in c.diff) == sorted((e.path, e.kind) for e in api_diff(api, c.id))
    assert snap.connection["sources"]["diff"]["host"] >= len(ours)
