"""Check 5.7 finds sshd by the kernel's process name, on real containers, from /proc and from docker top.

busybox runs the applet argv[0] names, and the kernel names a process after the file it executed
(/proc/PID/comm, 15 characters at most). So ``exec -a sleep /tmp/sshd 300``, with /tmp/sshd a copy of
busybox, runs sleep under the name sshd: argv says "sleep 300", ps's COMM says "sshd".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from dockerbench.collect import CollectOptions, Target, collect_snapshot
from dockerbench.results import Status
from dockerbench.runner import evaluate
from dockerbench.snapshot import ContainerSnapshot, HostSnapshot

pytestmark = pytest.mark.docker

RUN = uuid.uuid4().hex[:8]
LABEL = {"dockerbench.test": f"comm-{RUN}"}
SCENARIO = {
    "disguised": "cp /bin/busybox /tmp/sshd && exec -a sleep /tmp/sshd 300",
    "ordinary": "exec sleep 301",
    "logs": "touch /tmp/sshd.log && exec tail -f /tmp/sshd.log",
    # A process that renamed itself, with spaces: a subshell writes its own comm and waits for its sleep.
    "spaced": "(printf 'two words' > /proc/self/comm; sleep 302; :) & exec sleep 303",
}


def name(short: str) -> str:
    return f"comm-{RUN}-{short}"


@pytest.fixture(scope="module")
def running(docker_url: str, test_image: str) -> Iterator[dict[str, str]]:
    """The scenario's containers, running; their ids by short name."""
    client = docker.APIClient(base_url=docker_url, version="auto", timeout=60)
    ids: dict[str, str] = {}
    try:
        for short, script in SCENARIO.items():
            cid = client.create_container(test_image, ["sh", "-c", script], name=name(short), labels=LABEL)["Id"]
            client.start(cid)
            ids[short] = cid
        deadline = time.monotonic() + 20
        while not _settled(client, ids):
            assert time.monotonic() < deadline, "the scenario's processes did not start"
            time.sleep(0.05)
        yield ids
    finally:
        for cid in ids.values():
            client.remove_container(cid, force=True)
        client.close()


def _settled(client: docker.APIClient, ids: dict[str, str]) -> bool:
    init = client.inspect_container(ids["disguised"])["State"]["Pid"]
    spaced = client.top(ids["spaced"])["Processes"]
    return _proc(init, "comm") == "sshd\n" and len(spaced) == 3 and "two words" in _names(client, ids["spaced"])


def _proc(pid: int, part: str) -> str:
    try:
        return Path(f"/proc/{pid}/{part}").read_text()
    except OSError:
        return ""


def _names(client: docker.APIClient, cid: str) -> set[str]:
    return {_proc(int(row[1]), "comm").rstrip("\n") for row in client.top(cid)["Processes"]}


def test_the_disguised_process_really_is_named_sshd_with_argv_sleep(docker_url: str, running: dict[str, str]) -> None:
    client = docker.APIClient(base_url=docker_url, version="auto", timeout=60)
    try:
        pid = client.inspect_container(running["disguised"])["State"]["Pid"]
    finally:
        client.close()
    assert _proc(pid, "comm") == "sshd\n"
    assert "Name:\tsshd\n" in _proc(pid, "status")
    assert _proc(pid, "cmdline").split("\0")[:2] == ["sleep", "300"]


def _columns(c: ContainerSnapshot) -> list[tuple[str, str, str]]:
    assert c.top is not None
    titles = c.top["Titles"]
    assert titles == ["UID", "PID", "PPID", "COMM", "CMD"]
    return sorted((row[1], row[3], row[4]) for row in c.top["Processes"])


@pytest.fixture(scope="module", params=["local", "none"])
def audit(request: Any, docker_url: str, running: dict[str, str]) -> tuple[str, HostSnapshot]:
    """A snapshot whose processes come from the host's /proc (local) or from docker top (none)."""
    return request.param, collect_snapshot(Target(docker_url), CollectOptions(facts=request.param))


def ours(snap: HostSnapshot, running: dict[str, str]) -> dict[str, ContainerSnapshot]:
    by_id = {c.id: c for c in snap.containers or ()}
    return {short: by_id[cid] for short, cid in running.items()}


def test_the_process_list_carries_the_kernel_name(audit: tuple[str, HostSnapshot], running: dict[str, str]) -> None:
    facts, snap = audit
    assert snap.connection["sources"]["top"].get("host" if facts == "local" else "api")
    got = ours(snap, running)
    assert [(comm, cmd) for _pid, comm, cmd in _columns(got["disguised"])] == [("sshd", "sleep 300")]
    assert [(comm, cmd) for _pid, comm, cmd in _columns(got["logs"])] == [("tail", "tail -f /tmp/sshd.log")]
    spaced = {comm: cmd for _pid, comm, cmd in _columns(got["spaced"])}
    assert spaced["two words"].startswith("sh -c (printf 'two words' > /proc/self/comm")
    assert spaced["sleep"] in ("sleep 302", "sleep 303")


def test_both_paths_give_the_same_process_names(docker_url: str, running: dict[str, str]) -> None:
    from_host = ours(collect_snapshot(Target(docker_url), CollectOptions(facts="local")), running)
    from_api = ours(collect_snapshot(Target(docker_url), CollectOptions(facts="none")), running)
    for short in SCENARIO:
        assert _columns(from_host[short]) == _columns(from_api[short]), short


def test_sshd_is_found_by_its_name_and_ordinary_containers_are_not_flagged(
    audit: tuple[str, HostSnapshot], running: dict[str, str]
) -> None:
    _facts, snap = audit
    results = [r for r in evaluate(snap, ["5.7"]) if r.object and r.object.id in running.values()]
    warned = {r.object.name: r.evidence for r in results if r.status is Status.WARN and r.object}
    assert warned == {name("disguised"): {"processes": ["sleep 300 (process name sshd)"]}}
