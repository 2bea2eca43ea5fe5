"""Containers' processes from the host's /proc in the fact script's pass, against `docker top` on the real dockerd."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from dockerbench.collect import CollectOptions, _fill_tops, collect_snapshot
from dockerbench.collect.docker_api import Target
from dockerbench.collect.facts import FactRunner, LocalRunner, ProbeRunner, gather_host
from dockerbench.collect.hostprocs import HostProcesses
from dockerbench.snapshot import ContainerSnapshot, HostSnapshot

MAIN = "unix:///var/run/docker.sock"
LABEL = "io.dockerbench.test.hostpass"

pytestmark = pytest.mark.docker

# name -> (command, extra create_container arguments, host config arguments)
SCENARIO: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "one": ("exec sleep 86400", {}, {}),
    "several": ("sleep 86401 & sleep 86402 & (sleep 86403 & wait) & exec sleep 86404", {}, {}),
    "nonroot": ("exec sleep 86405", {"user": "4321:4321"}, {}),
    "readonly": ("exec sleep 86406", {}, {"read_only": True}),
    "args": ("exec sleep 86407 # with spaces in  its arguments", {}, {}),
}


@pytest.fixture(scope="module")
def api(docker_url: str) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=MAIN, version="auto", timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def ours(api: docker.APIClient, test_image: str) -> Iterator[dict[str, str]]:
    """Our labelled containers, by name: the running scenario and one that was never started."""
    run = secrets.token_hex(4)
    ids: dict[str, str] = {}
    try:
        for name, (command, extra, host) in SCENARIO.items():
            cid = api.create_container(
                test_image,
                ["sh", "-c", command],
                name=f"hostpass-{name}-{run}",
                labels={LABEL: run},
                environment=["PATH=/bin"],
                host_config=api.create_host_config(**host),
                **extra,
            )["Id"]
            api.start(cid)
            ids[name] = cid
        ids["stopped"] = api.create_container(
            test_image, ["sleep", "1"], name=f"hostpass-stopped-{run}", labels={LABEL: run}
        )["Id"]
        _wait_for_processes(api, ids["several"], 5)
        yield ids
    finally:
        for cid in api.containers(all=True, filters={"label": f"{LABEL}={run}"}):
            api.remove_container(cid["Id"], force=True)


def _wait_for_processes(api: docker.APIClient, cid: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while len(api.top(cid)["Processes"]) < count:
        assert time.monotonic() < deadline, "the scenario's processes did not start"
        time.sleep(0.05)


def _rows(top: dict[str, Any]) -> list[tuple[str, ...]]:
    """UID, PID, PPID and CMD of each process, whatever other columns there are."""
    titles = top["Titles"]
    cols = [titles.index(t) for t in ("UID", "PID", "PPID", "CMD")]
    return sorted(tuple(str(row[i]) for i in cols) for row in top["Processes"])


@pytest.mark.parametrize("how", ["local", "probe"])
def test_the_host_pass_lists_what_docker_top_lists(
    api: docker.APIClient, ours: dict[str, str], test_image: str, how: str
) -> None:
    runner: FactRunner = LocalRunner() if how == "local" else ProbeRunner(api, test_image)
    host = gather_host(runner, endpoint=MAIN, info=api.info(), processes=True)
    assert host.processes is not None
    by_container = host.processes.pids_of()
    for name in SCENARIO:
        cid = ours[name]
        expected = _rows(api.top(cid))
        assert _rows(host.processes.top(by_container[cid])) == expected, name
    assert ours["stopped"] not in by_container
    assert len(by_container[ours["several"]]) == 5
    assert {row[0] for row in _rows(api.top(ours["nonroot"]))} == {"4321"}


def test_without_the_processes_token_the_pass_reports_none(api: docker.APIClient, ours: dict[str, str]) -> None:
    assert gather_host(LocalRunner(), endpoint=MAIN, info=api.info()).processes is None


def _ours(snap: HostSnapshot, ids: dict[str, str]) -> dict[str, ContainerSnapshot]:
    by_id = {c.id: c for c in snap.containers or ()}
    return {name: by_id[cid] for name, cid in ids.items()}


@pytest.mark.parametrize("how", ["local", "probe"])
def test_a_snapshot_takes_processes_from_the_host_and_matches_the_api_path(
    api: docker.APIClient, ours: dict[str, str], test_image: str, how: str
) -> None:
    target = Target(MAIN)
    host_snap = collect_snapshot(target, CollectOptions(facts=how, probe_image=test_image))
    api_snap = collect_snapshot(target, CollectOptions(facts="none"))

    assert host_snap.facts is not None and "facts" not in host_snap.missing
    assert host_snap.connection["sources"]["top"]["host"] >= len(SCENARIO)
    assert api_snap.connection["sources"]["top"] == {"api": sum(1 for c in api_snap.containers or () if c.running)}
    from_host, from_api = _ours(host_snap, ours), _ours(api_snap, ours)
    for name in SCENARIO:
        host_top, api_top = from_host[name].top, from_api[name].top
        assert host_top is not None and api_top is not None
        assert _rows(host_top) == _rows(api_top), name
        assert from_host[name].errors == from_api[name].errors == {}, name
        # The diff still comes from the API on both paths.
        assert set(from_host[name].diff or ()) == set(from_api[name].diff or ()), name
    for snap in (from_host, from_api):
        assert snap["stopped"].top is None
        assert snap["stopped"].errors == {"top": "the container is not running"}


def test_containers_the_host_pass_did_not_cover_ask_the_api(api: docker.APIClient, ours: dict[str, str]) -> None:
    snap = collect_snapshot(Target(MAIN), CollectOptions(facts="none"))
    bare = tuple(c.__class__(c.id, c.name, c.inspect, c.running, errors=dict(c.errors)) for c in snap.containers or ())
    running = sum(1 for c in bare if c.running)
    # No pass at all (facts failed), and a pass that found nothing (another host, another PID namespace).
    for procs in (None, HostProcesses(complete=True)):
        filled, counts = _fill_tops(api, bare, procs, 4)
        assert counts == {"host": 0, "api": running}
        got = {c.id: c for c in filled}
        for name in SCENARIO:
            assert _rows(got[ours[name]].top or {}) == _rows(api.top(ours[name])), name


def test_a_container_whose_init_the_pass_did_not_see_asks_the_api(api: docker.APIClient, ours: dict[str, str]) -> None:
    host = gather_host(LocalRunner(), endpoint=MAIN, info=api.info(), processes=True)
    assert host.processes is not None
    cid = ours["several"]
    inspect = api.inspect_container(cid)
    init = inspect["State"]["Pid"]
    # The pass saw the container's other processes but not its init: it ran before a restart, say.
    host.processes.cgroups.pop(init)
    c = ContainerSnapshot(cid, "several", inspect, True)
    filled, counts = _fill_tops(api, (c,), host.processes, 2)
    assert counts == {"host": 0, "api": 1}
    assert filled[0].top is not None and str(init) in {row[1] for row in _rows(filled[0].top)}
