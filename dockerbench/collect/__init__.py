"""Collectors: the only I/O in the engine. ``collect_snapshot`` builds a HostSnapshot."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker

from dockerbench import __version__
from dockerbench.collect import facts as facts_mod
from dockerbench.collect.docker_api import CollectError, SSHOptions, Target, collect_api, connect
from dockerbench.snapshot import HostFacts, HostSnapshot

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
    """
    options = options or CollectOptions()
    started = time.perf_counter()
    collected_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    client = connect(target)
    try:
        api = collect_api(client, workers=options.workers, progress=progress)
        missing = dict(api.missing)
        timings = dict(api.timings)
        if api.vanished:
            missing["vanished"] = "removed during collection: " + ", ".join(api.vanished)
        facts: HostFacts | None = None
        method = resolve_fact_method(target, options.facts)
        if method == "none":
            missing["facts"] = "host facts were not requested (--facts none)"
        else:
            t0 = time.perf_counter()
            try:
                facts = _gather_facts(method, client, target, options, api.info or {})
            except Exception as exc:  # any failure here must leave the API audit intact
                missing["facts"] = f"host facts via {method} failed: {exc}"
            timings["facts"] = round(time.perf_counter() - t0, 4)
    finally:
        client.close()
    timings["total"] = round(time.perf_counter() - started, 4)
    connection = {"scheme": target.scheme, "tls": target.tls is not None, "facts": method}
    return HostSnapshot(
        target=target.url,
        collected_at=collected_at,
        engine_version=__version__,
        info=api.info,
        version=api.version,
        containers=api.containers,
        images=api.images,
        networks=api.networks,
        swarm=api.swarm,
        nodes=api.nodes,
        services=api.services,
        facts=facts,
        connection=connection,
        missing=missing,
        timings=timings,
    )


def _gather_facts(
    method: str, client: docker.APIClient, target: Target, options: CollectOptions, info: dict[str, Any]
) -> HostFacts:
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
            return facts_mod.gather_facts(ssh, endpoint=target.url, info=info)
    else:
        raise CollectError(f"unknown facts method {method!r}; use one of {', '.join(FACT_METHODS)}")
    return facts_mod.gather_facts(runner, endpoint=target.url, info=info)
