"""Collectors: the only I/O in the engine. ``collect_snapshot`` builds a HostSnapshot."""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import os
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import docker

from dockerbench import __version__
from dockerbench.collect import facts as facts_mod
from dockerbench.collect.docker_api import CollectError, SSHOptions, Target, collect_api, connect, fetch_tops
from dockerbench.collect.hostprocs import HostProcesses
from dockerbench.redact import check_key, redact_snapshot
from dockerbench.snapshot import ContainerSnapshot, HostFacts, HostSnapshot

FACT_METHODS = ("auto", "local", "probe", "ssh", "none")
DEFAULT_PROBE_IMAGE = "busybox:stable"

__all__ = ["CollectError", "CollectOptions", "Target", "collect_snapshot"]


@dataclass(frozen=True)
class CollectOptions:
    facts: str = "auto"  # one of FACT_METHODS
    probe_image: str = DEFAULT_PROBE_IMAGE
    workers: int = 8
    # For --facts ssh on a host reached over tcp: where to ssh to (user@host[:port]).
    ssh_url: str | None = None
    ssh: SSHOptions = field(default_factory=SSHOptions)
    # The key of the hashes in redaction markers (dockerbench.redact). The default, random for each
    # CollectOptions, lets hashes be compared only between snapshots collected with the same options.
    redact_key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)


def resolve_fact_method(target: Target, method: str) -> str:
    """Pick how host facts are gathered when the user said "auto".

    A local unix socket is this machine: read the facts directly. An ssh://
    engine is reachable over SSH already. Anything else is only reachable
    through its API, so a probe container gathers them.
    """
    if method != "auto":
        return method
    if target.scheme == "unix":
        return "local"
    if target.scheme == "ssh":
        return "ssh"
    return "probe"


def collect_snapshot(
    target: Target,
    options: CollectOptions | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> HostSnapshot:
    """Connect to a Docker engine and collect everything the checks need.

    Raises CollectError when the engine cannot be reached at all. Any part
    that fails after that is recorded in ``missing`` and the rest goes on.

    The snapshot is redacted with ``options.redact_key`` (see dockerbench.redact)
    before it is returned: no environment value or secret-shaped word leaves here.
    """
    options = options or CollectOptions()
    check_key(options.redact_key)  # before any work: it would fail at the end
    started = time.perf_counter()
    collected_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    method = resolve_fact_method(target, options.facts)
    client = connect(target)
    facts: HostFacts | None = None
    procs: HostProcesses | None = None
    missing: dict[str, str] = {}
    timings: dict[str, float] = {}
    sources: dict[str, dict[str, int]] = {}
    try:
        with ThreadPoolExecutor(max_workers=1) as facts_pool:
            pending: list[Future[facts_mod.HostPass]] = []

            def run_facts(info: dict[str, Any]) -> facts_mod.HostPass:
                t0 = time.perf_counter()
                try:
                    return _gather_facts(method, client, target, options, info)
                finally:
                    timings["facts"] = round(time.perf_counter() - t0, 4)

            def start_facts(info: dict[str, Any]) -> None:
                pending.append(facts_pool.submit(run_facts, info))

            # The fact script needs only `docker info`: on this host or over SSH it runs while the
            # API examines the objects. The probe waits until they are listed, so that it is not
            # itself listed (and then found gone) as one of the host's containers.
            overlap = method in ("local", "ssh")
            api = collect_api(
                client,
                workers=options.workers,
                progress=progress,
                top=method == "none",
                after_info=start_facts if overlap else None,
                host_diff=target.scheme == "unix",
            )
            t0 = time.perf_counter()
            if method != "none" and not overlap:
                start_facts(api.info or {})
            missing.update(api.missing)
            timings.update(api.timings)
            if method == "none":
                missing["facts"] = "host facts were not requested (--facts none)"
            else:
                try:
                    host_pass = pending[0].result()
                    facts, procs = host_pass.facts, host_pass.processes
                except Exception as exc:  # any failure here must leave the API audit intact
                    missing["facts"] = f"host facts via {method} failed: {exc}"
                # How long the facts held the collection up beyond the API's own work.
                timings["facts-wait"] = round(time.perf_counter() - t0, 4)
        if api.vanished:
            missing["vanished"] = "removed during collection: " + ", ".join(api.vanished)
        containers = api.containers
        if containers is not None and method != "none":
            t0 = time.perf_counter()
            containers, sources["top"] = _fill_tops(client, containers, procs, options.workers)
            timings["top"] = round(time.perf_counter() - t0, 4)
        elif containers is not None:
            sources["top"] = {"api": sum(1 for c in containers if c.running)}
        if containers is not None:
            sources["diff"] = dict(api.diff_sources)
    finally:
        client.close()
    # Where each container's processes came from: "host" (/proc, in the fact script's pass) or "api".
    # And each container's diff: "host" (its overlay2 layers, collect.overlay_diff) or "api"; when no diff
    # could come from the host, why ("host_diff_off").
    connection = {"scheme": target.scheme, "tls": target.tls is not None, "facts": method, "sources": sources}
    if api.host_diff_off:
        connection["host_diff_off"] = api.host_diff_off
    collected = HostSnapshot(
        target=target.url,
        collected_at=collected_at,
        engine_version=__version__,
        info=api.info,
        version=api.version,
        containers=containers,
        images=api.images,
        networks=api.networks,
        swarm=api.swarm,
        nodes=api.nodes,
        services=api.services,
        facts=facts,
        connection=connection,
        missing=missing,
    )
    t0 = time.perf_counter()
    snapshot = redact_snapshot(collected, options.redact_key)
    timings["redact"] = round(time.perf_counter() - t0, 4)
    timings["total"] = round(time.perf_counter() - started, 4)
    return dataclasses.replace(snapshot, timings=timings)


def _fill_tops(
    client: docker.APIClient,
    containers: tuple[ContainerSnapshot, ...],
    procs: HostProcesses | None,
    workers: int,
) -> tuple[tuple[ContainerSnapshot, ...], dict[str, int]]:
    """Every running container's processes: from the host pass where it covered the container, else the API.

    The host pass covers a container when it found the container's own init
    process (State.Pid) in the container's cgroup: that rules out a pass run
    on another host or in another PID namespace, and a container that stopped
    or restarted meanwhile. The rest ask ``docker top`` (which then also says
    why, for one that stopped), so no running container is left with neither.
    """
    by_host = procs.pids_of() if procs is not None else {}
    filled: dict[str, ContainerSnapshot] = {}
    leftovers: list[ContainerSnapshot] = []
    for c in containers:
        if not c.running:
            continue
        pids = by_host.get(c.id, [])
        init = (c.inspect.get("State") or {}).get("Pid")
        if procs is not None and isinstance(init, int) and init in pids:
            filled[c.id] = dataclasses.replace(c, top=procs.top(pids))
        else:
            leftovers.append(c)
    counts = {"host": len(filled), "api": len(leftovers)}
    if leftovers:
        filled.update(fetch_tops(client, leftovers, workers=workers))
    return tuple(filled.get(c.id, c) for c in containers), counts


def _gather_facts(
    method: str, client: docker.APIClient, target: Target, options: CollectOptions, info: dict[str, Any]
) -> facts_mod.HostPass:
    runner: facts_mod.FactRunner
    if method == "local":
        runner = facts_mod.LocalRunner()
    elif method == "probe":
        runner = facts_mod.ProbeRunner(client, options.probe_image)
    elif method == "ssh":
        url = options.ssh_url or (target.url if target.scheme == "ssh" else None)
        if not url:
            raise CollectError("--facts ssh needs --ssh-url for an engine not reached over ssh://")
        parsed = urllib.parse.urlsplit(url if "://" in url else "ssh://" + url)
        ssh = facts_mod.SshRunner(
            host=parsed.hostname or "",
            port=parsed.port or options.ssh.port or 22,
            user=parsed.username or getpass.getuser(),
            key_filename=options.ssh.key_file,
            known_hosts=options.ssh.known_hosts or os.path.expanduser("~/.ssh/known_hosts"),
            accept_unknown_host=options.ssh.accept_unknown_host,
            timeout=target.timeout,
        )
        with ssh:  # the SSH connection is closed whatever happens
            return facts_mod.gather_host(ssh, endpoint=target.url, info=info, processes=True)
    else:
        raise CollectError(f"unknown facts method {method!r}; use one of {', '.join(FACT_METHODS)}")
    return facts_mod.gather_host(runner, endpoint=target.url, info=info, processes=True)
