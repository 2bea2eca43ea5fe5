"""Container fixes, proven on a real engine: misconfigured containers are audited, recreated from their
generated hardened ``docker run`` line with the docker CLI, and audited again.

Everything runs on the session's second dockerd (``netns_dockerd``, a network namespace of its own), so
the re-audit sees only what this module started. ``--privileged`` and ``:rshared`` mounts cannot start on
this machine: those containers are ``docker create``d only, and their hardened lines are only created
(test_created_only_containers_get_lines_the_cli_accepts).
"""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from dockerbench.collect import CollectOptions, Target, collect_snapshot
from dockerbench.fixes.containers import CONTAINER_FIXES, container_fixes
from dockerbench.fixes.model import ContainerFix
from dockerbench.results import Result, Status
from dockerbench.runner import evaluate
from dockerbench.snapshot import HostSnapshot
from dockerbench.tests.daemons import TEST_IMAGE, Dockerd

pytestmark = pytest.mark.docker

RUN = uuid.uuid4().hex[:6]
LABEL = {"dockerbench.test": f"fixes-{RUN}"}
# Shell and compose both see this: a line that does not quote it runs the touch, or loses the $.
HOSTILE = "$(touch /tmp/dbfix-pwned-" + RUN + ") `id` '\"; <img src=x> ${HOME} $$"
USER_IMAGE = f"dockerbench/fixes-user:{RUN}"
SECRET = f"hunter2-{RUN}"  # noqa: S105 - a value that must never reach a generated line


def name(short: str) -> str:
    return f"dbfix-{RUN}-{short}"


def cli(daemon: Dockerd, line: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a generated shell line with the docker CLI against the test daemon, as a reviewer would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = daemon.url
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=timeout, env=env)


def build_user_image(client: docker.DockerClient) -> None:
    """The test image with a non-root USER and a HEALTHCHECK of its own."""
    dockerfile = f'FROM {TEST_IMAGE}\nUSER 1000:1000\nHEALTHCHECK --interval=5s CMD ["true"]\n'.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=USER_IMAGE, rm=True, labels=LABEL)


# What each container writes before it sleeps; the diff shows it, the fix puts a tmpfs there.
LOOSE_CMD = "echo 1 > /tmp/state && mkdir -p /var/run && echo $$ > /var/run/app.pid && exec sleep 3600"
# It uses NET_ADMIN and writes into the image's /etc: hardening either away would stop it.
BREAKS_CMD = "ip addr add 10.9.9.9/32 dev lo && echo up > /etc/dockerbench-state && exec sleep 3600"


SHORTS = ("loose", "reach", "breaks", "uts")


def remove_ours(client: docker.DockerClient) -> None:
    for c in client.containers.list(all=True, filters={"label": f"dockerbench.test=fixes-{RUN}"}):
        c.remove(force=True)


def wait_for_diff(client: docker.DockerClient, cname: str, path: str) -> None:
    deadline = time.monotonic() + 20
    api = client.api
    while time.monotonic() < deadline:
        if any(d["Path"] == path for d in api.diff(cname) or ()):
            return
        time.sleep(0.1)
    pytest.fail(f"{cname} never wrote {path}: {client.containers.get(cname).logs()!r}")


def audit(daemon: Dockerd) -> tuple[HostSnapshot, list[Result]]:
    snap = collect_snapshot(Target(daemon.url), CollectOptions(facts="local"))
    return snap, evaluate(snap)


@pytest.fixture(scope="module")
def engine(netns_dockerd: Dockerd) -> Iterator[dict[str, Any]]:
    client = docker.DockerClient(base_url=netns_dockerd.url, version="auto", timeout=60)
    network = client.networks.create(f"dbfix-{RUN}", driver="bridge", labels=LABEL)
    build_user_image(client)
    sock = str(netns_dockerd.socket)
    common: dict[str, Any] = {"detach": True, "labels": LABEL}
    specs: dict[str, dict[str, Any]] = {
        # Root on an image with a USER, unlimited, a writable root it writes to, a port on every interface,
        # restarted forever, the image's health check turned off, seccomp off, an environment secret.
        "loose": {
            "image": USER_IMAGE,
            "command": ["sh", "-c", LOOSE_CMD],
            "user": "root",
            "mem_reservation": "32m",
            "ports": {"8080/tcp": ("0.0.0.0", 18080)},  # noqa: S104 - the finding under test
            "restart_policy": {"Name": "always"},
            "healthcheck": {"test": ["NONE"]},
            "security_opt": ["seccomp=unconfined"],
            "environment": {"API_TOKEN": SECRET},
            "network": network.name,
            "labels": {**LABEL, "note": HOSTILE},
        },
        # The daemon's own socket and the host's root, the host's PID and IPC namespaces.
        "reach": {
            "image": TEST_IMAGE,
            "command": ["sleep", "3600"],
            "volumes": {sock: {"bind": "/var/run/docker.sock", "mode": "ro"}, "/": {"bind": "/hostroot"}},
            "pid_mode": "host",
            "ipc_mode": "host",
            "network_mode": "none",
        },
        "breaks": {
            "image": TEST_IMAGE,
            "command": ["sh", "-c", BREAKS_CMD],
            "cap_add": ["NET_ADMIN"],
            "network_mode": "none",
        },
        # The host's UTS namespace (5.21): a container of its own, as Debian's docker-compose v1 refuses
        # `uts: host` in a compose file (see test_compose_files_are_valid).
        "uts": {"image": TEST_IMAGE, "command": ["sleep", "3600"], "uts_mode": "host", "network_mode": "none"},
    }
    try:
        for short, spec in specs.items():
            client.containers.run(name=name(short), **{**common, **spec})
        wait_for_diff(client, name("loose"), "/var/run/app.pid")
        wait_for_diff(client, name("breaks"), "/etc/dockerbench-state")
        snap, results = audit(netns_dockerd)
        fixes = {f.name: f for f in container_fixes(snap, results)}
        originals = {n: client.containers.get(name(n)).attrs for n in specs}
        yield {
            "client": client,
            "daemon": netns_dockerd,
            "snap": snap,
            "results": results,
            "fixes": fixes,
            "originals": originals,
        }
    finally:
        remove_ours(client)
        network.remove()
        client.images.remove(USER_IMAGE, force=True)
        client.close()


def warns(results: list[Result], cname: str) -> dict[str, list[Result]]:
    out: dict[str, list[Result]] = {}
    for r in results:
        if r.check_id[:2] not in ("4.", "5."):
            continue
        if r.status is Status.WARN and r.object and r.object.kind == "container" and r.object.name == cname:
            out.setdefault(r.check_id, []).append(r)
    return out


def claimed(fix: ContainerFix) -> set[str]:
    """The checks the hardened line claims to fix: every change for them is written, none is for review."""
    ids = {ch.check_id for ch in fix.changes}
    return {i for i in ids if all(not ch.review for ch in fix.changes if ch.check_id == i)}


@pytest.fixture(scope="module")
def recreated(engine: dict[str, Any]) -> dict[str, Any]:
    """Each container removed and started again from its hardened line, then the engine audited again."""
    client, daemon = engine["client"], engine["daemon"]
    for short in SHORTS:
        fix = engine["fixes"][name(short)]
        client.containers.get(name(short)).remove(force=True)
        proc = cli(daemon, fix.fixed_run)
        assert proc.returncode == 0, f"{fix.fixed_run}\n{proc.stderr}"
    time.sleep(2)  # long enough for a command that fails at once to have exited
    snap, results = audit(daemon)
    return {"snap": snap, "results": results}


def test_it_writes_a_fix_for_every_misconfigured_container_only(engine):
    ours = {n for n in engine["fixes"] if n.startswith(f"dbfix-{RUN}-")}
    assert ours == {name("loose"), name("reach"), name("breaks"), name("uts")}
    for fix in engine["fixes"].values():
        assert {ch.check_id for ch in fix.changes} >= set(warns(engine["results"], fix.name))


def test_the_current_line_reproduces_the_container(engine):
    """The reconstructed line, run under another name, makes a container configured as the original."""
    client, daemon = engine["client"], engine["daemon"]
    fix = engine["fixes"][name("loose")]
    copy_name = name("copy")
    line = fix.current_run.replace(f"--name {name('loose')}", f"--name {copy_name}")
    # The original holds the host port: publish the copy elsewhere.
    line = line.replace("0.0.0.0:18080:8080", "0.0.0.0:18081:8080")
    proc = cli(daemon, line)
    assert proc.returncode == 0, proc.stderr
    copy = client.containers.get(copy_name).attrs
    original = engine["originals"]["loose"]
    for key in ("User", "Cmd", "Image", "Labels", "Healthcheck"):
        assert copy["Config"][key] == original["Config"][key], key
    for key in ("SecurityOpt", "RestartPolicy", "MemoryReservation", "CapAdd", "NetworkMode"):
        assert copy["HostConfig"][key] == original["HostConfig"][key], key
    assert copy["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18081"}]}  # noqa: S104
    client.containers.get(copy_name).remove(force=True)


def test_hardened_containers_start_and_run_their_command(engine, recreated):
    client = engine["client"]
    for short in SHORTS:
        attrs = client.containers.get(name(short)).attrs
        assert attrs["State"]["Running"], (short, client.containers.get(name(short)).logs())
        assert attrs["RestartCount"] == 0, short
        assert attrs["Config"]["Cmd"] == engine["originals"][short]["Config"]["Cmd"]


def test_what_the_lines_claim_to_fix_no_longer_warns(engine, recreated):
    for short in SHORTS:
        fix = engine["fixes"][name(short)]
        before = set(warns(engine["results"], name(short)))
        after = set(warns(recreated["results"], name(short)))
        fixed = claimed(fix)
        assert fixed, short
        assert fixed <= before, short
        assert not (fixed & after), (short, fixed & after)
    # Judged, not skipped: the claims were checked on data the re-audit has.
    skipped = {r.check_id for r in recreated["results"] if r.status is Status.SKIP and r.check_id.startswith("5.")}
    assert not (skipped & set().union(*(claimed(f) for f in engine["fixes"].values())))


def test_the_loose_container_gets_every_runtime_fix(engine, recreated):
    fix = engine["fixes"][name("loose")]
    assert claimed(fix) >= {"4.1", "5.11", "5.12", "5.13", "5.14", "5.15", "5.22", "5.26", "5.27", "5.29"}
    attrs = engine["client"].containers.get(name("loose")).attrs
    hc = attrs["HostConfig"]
    assert hc["ReadonlyRootfs"] is True
    assert set(hc["Tmpfs"]) == {"/tmp", "/var"}  # what the diff showed written; /var it created
    assert attrs["Config"]["User"] == "1000:1000"  # the image's own user
    assert hc["Memory"] == 64 << 20  # twice the reservation in force
    assert hc["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 5}
    assert "no-new-privileges=true" in hc["SecurityOpt"] and "seccomp=unconfined" not in hc["SecurityOpt"]
    assert attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "true"]  # the image's, no longer disabled


def test_the_reaching_container_loses_the_socket_root_and_namespaces(engine, recreated):
    fix = engine["fixes"][name("reach")]
    assert claimed(fix) >= {"5.6", "5.16", "5.17", "5.32"}
    attrs = engine["client"].containers.get(name("reach")).attrs
    assert attrs["Mounts"] == []
    assert attrs["HostConfig"]["PidMode"] == "" and attrs["HostConfig"]["IpcMode"] != "host"
    assert "label=disable" not in (attrs["HostConfig"]["SecurityOpt"] or ())  # Docker's own, for the host PID


def test_the_uts_container_leaves_the_hosts_uts_namespace(engine, recreated):
    fix = engine["fixes"][name("uts")]
    assert "5.21" in claimed(fix) and "--uts host" not in fix.fixed_run
    assert engine["originals"]["uts"]["HostConfig"]["UTSMode"] == "host"
    assert engine["client"].containers.get(name("uts")).attrs["HostConfig"]["UTSMode"] == ""


def test_a_container_hardening_would_break_gets_review_and_a_line_that_runs(engine, recreated):
    fix = engine["fixes"][name("breaks")]
    review = {ch.check_id: ch.review for ch in fix.changes if ch.review}
    assert "NET_ADMIN" in review["5.4"]
    assert "/etc/dockerbench-state" in review["5.13"]
    assert "no non-root USER" in review["4.1"]
    assert "--read-only" not in fix.fixed_run and "NET_ADMIN" in fix.fixed_run
    # Still running (test_hardened_containers_start_and_run_their_command): it got its address and wrote.
    client = engine["client"]
    out = client.containers.get(name("breaks")).exec_run(["sh", "-c", "ip addr show lo; cat /etc/dockerbench-state"])
    assert b"10.9.9.9" in out.output and b"up" in out.output
    # The fixes it was spared would have stopped it: each one, applied, makes the command fail at once.
    for short, line in {
        "ro": fix.fixed_run.replace("--cap-drop ALL", "--cap-drop ALL --read-only"),
        "nocap": fix.fixed_run.replace("--cap-add NET_ADMIN", ""),
    }.items():
        trial = name(f"trial-{short}")
        proc = cli(engine["daemon"], line.replace(f"--name {name('breaks')}", f"--name {trial}"))
        assert proc.returncode == 0, proc.stderr
        container = client.containers.get(trial)
        assert container.wait(timeout=30)["StatusCode"] != 0, short
        container.remove(force=True)


def test_hostile_values_stay_data(engine, recreated):
    attrs = engine["client"].containers.get(name("loose")).attrs
    assert attrs["Config"]["Labels"]["note"] == HOSTILE
    assert not Path(f"/tmp/dbfix-pwned-{RUN}").exists()
    for fix in engine["fixes"].values():
        for text in (fix.current_run, fix.fixed_run, fix.current_compose, fix.fixed_compose):
            assert SECRET not in text
    loose = engine["fixes"][name("loose")]
    assert "--env API_TOKEN" in loose.fixed_run
    # The token's name only: passed on from the environment of whoever runs the line, so it has no value now.
    assert not any(e.startswith("API_TOKEN=") for e in attrs["Config"]["Env"])


def test_compose_files_are_valid(engine, tmp_path):
    for fix in engine["fixes"].values():
        if not fix.name.startswith(f"dbfix-{RUN}-"):
            continue
        for kind, text in (("current", fix.current_compose), ("fixed", fix.fixed_compose)):
            if kind == "current" and fix.name == name("uts"):
                continue  # `uts: host` is in the Compose spec, but docker-compose v1.29 refuses it
            path = tmp_path / f"{fix.name}-{kind}.yml"
            path.write_text(text)
            proc = subprocess.run(
                ["docker-compose", "-f", str(path), "config"], capture_output=True, text=True, timeout=60
            )
            assert proc.returncode == 0, f"{text}\n{proc.stderr}"
            (service,) = yaml.safe_load(proc.stdout)["services"].values()
            if fix.name == name("loose"):
                assert service["labels"]["note"] == HOSTILE.replace("$", "$$")  # config prints it escaped
                assert "API_TOKEN" in service["environment"]
                if kind == "fixed":
                    assert service["read_only"] is True and service["user"] == "1000:1000"


def test_every_change_names_its_check_and_what_it_may_break(engine):
    for fix in engine["fixes"].values():
        for ch in fix.changes:
            assert ch.check_id in CONTAINER_FIXES
            assert ch.why
            assert ch.review or ch.may_break or ch.check_id == "5.32", ch


def test_the_table_covers_every_section_4_and_5_check():
    from dockerbench.checks import images, runtime

    assert set(CONTAINER_FIXES) == set(images.CHECKS) | set(runtime.CHECKS)
    assert {v.split(":", 1)[0] for v in CONTAINER_FIXES.values()} == {"fix", "review", "advice"}


def test_created_only_containers_get_lines_the_cli_accepts(netns_dockerd):
    """--privileged and :rshared cannot start here: created, audited as if running, their hardened lines
    created (never started) by the CLI."""
    client = docker.DockerClient(base_url=netns_dockerd.url, version="auto", timeout=60)
    try:
        client.containers.create(
            TEST_IMAGE, ["sleep", "3600"], name=name("priv"), privileged=True, labels=LABEL, network_mode="none"
        )
        client.containers.create(
            TEST_IMAGE,
            ["sleep", "3600"],
            name=name("rshared"),
            labels=LABEL,
            network_mode="none",
            # Not under /tmp: the test daemon's socket is there, and 5.32 would rightly remove the mount.
            volumes={"/usr/share": {"bind": "/shared", "mode": "rw,rshared"}},
        )
        snap = collect_snapshot(Target(netns_dockerd.url), CollectOptions(facts="local"))
        ours = {name("priv"), name("rshared")}
        as_running = tuple(
            dataclasses.replace(c, running=True, top={"Titles": ["UID", "PID", "CMD"], "Processes": [["0", "1", "x"]]})
            for c in snap.containers or ()
            if c.name in ours
        )
        snap = dataclasses.replace(snap, containers=as_running)
        fixes = {f.name: f for f in container_fixes(snap, evaluate(snap))}
        priv, rshared = fixes[name("priv")], fixes[name("rshared")]
        assert "--privileged" in priv.fixed_run
        assert any(ch.check_id == "5.5" and ch.review for ch in priv.changes)
        assert "/shared:rshared" in rshared.current_run and "/shared:rshared" not in rshared.fixed_run
        assert "5.20" in claimed(rshared)
        for fix in (priv, rshared):
            client.containers.get(fix.name).remove(force=True)
            line = fix.fixed_run.replace("docker run --detach", "docker create", 1)
            proc = cli(netns_dockerd, line)
            assert proc.returncode == 0, f"{line}\n{proc.stderr}"
        created = client.containers.get(name("rshared")).attrs
        assert created["HostConfig"]["Binds"] == ["/usr/share:/shared"]
    finally:
        remove_ours(client)
        client.close()
