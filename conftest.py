"""Session fixtures shared by every test package: the real dockerd and the local test image.

Both fail (never skip) when what they need is missing: a skipped integration test reads like a pass.
"""

from __future__ import annotations

import os

import docker
import pytest

TEST_IMAGE = "dockerbench/busybox:test"
SERVICES_HINT = "run scripts/services.sh as root (make test does) to start dockerd and build the test image"


@pytest.fixture(scope="session")
def docker_url() -> str:
    """The Docker engine the integration tests audit, after checking that it answers."""
    url = os.environ.get("DOCKERBENCH_TEST_DOCKER_HOST", "unix:///var/run/docker.sock")
    problem = ""
    try:
        client = docker.DockerClient(base_url=url, timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure to reach it means the same thing here
        problem = f"{type(exc).__name__}: {exc}"
    if problem:  # failed outside the except block, so the report is this one line, not a chain of tracebacks
        pytest.fail(f"no Docker engine answers at {url} ({problem}); {SERVICES_HINT}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def test_image(docker_url: str) -> str:
    """The locally imported busybox image (no registry needed), by name."""
    client = docker.DockerClient(base_url=docker_url, timeout=10)
    try:
        client.images.get(TEST_IMAGE)
        present = True
    except docker.errors.ImageNotFound:
        present = False
    finally:
        client.close()
    if not present:
        pytest.fail(f"the test image {TEST_IMAGE} is missing on {docker_url}; {SERVICES_HINT}", pytrace=False)
    return TEST_IMAGE
