"""Fixtures for the engine's integration tests: second dockerds and sshds, all real (daemons.py starts them).

Each is made once per session and shared by the test modules that use it. They clean up after
themselves even when a test fails, and fail (never skip) when something they need is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dockerbench.tests.daemons import (
    Dockerd,
    Sshd,
    TlsEngine,
    copy_image,
    netns_dockerd_running,
    run_container,
    sshd_running,
)


@pytest.fixture(scope="session")
def netns_dockerd(test_image: str) -> Iterator[Dockerd]:
    """A second dockerd, in its own network namespace, with the test image; gone after the session."""
    with netns_dockerd_running() as d:
        copy_image(d, test_image)
        yield d


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[Sshd]:
    """An sshd on loopback: root logs in with the test key and runs commands on this machine."""
    with sshd_running() as s:
        yield s


@pytest.fixture(scope="session")
def tls_engine(test_image: str) -> Iterator[TlsEngine]:
    """A second dockerd reached over tcp with mutual TLS, in its own namespace, with two containers running."""
    with netns_dockerd_running(tls=True) as d:
        assert d.pki and d.tcp_url
        copy_image(d, test_image)
        hardened: dict[str, Any] = {"read_only": True, "mem_limit": "64m", "pids_limit": 50}
        ids = {
            "remote-hardened": run_container(d, "remote-hardened", **hardened),
            "remote-loose": run_container(d, "remote-loose", cap_add=["NET_ADMIN"]),
        }
        yield TlsEngine(daemon=d, pki=d.pki, url=d.tcp_url, containers=ids)


@pytest.fixture(scope="session")
def ssh_engine(tls_engine: TlsEngine) -> Iterator[Sshd]:
    """An sshd on loopback whose sessions talk to the TLS engine's dockerd (through its unix socket)."""
    with sshd_running({"DOCKER_HOST": tls_engine.daemon.unix_url}) as s:
        yield s
