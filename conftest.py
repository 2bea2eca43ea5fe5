"""Session fixtures shared by every test package: the real dockerd, the local test image, Redis, and Chromium.

They fail (never skip) when what they need is missing: a skipped integration test reads like a pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import docker
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

TEST_IMAGE = "dockerbench/busybox:test"
SERVICES_HINT = "run scripts/services.sh as root (make test does) to start dockerd and build the test image"
CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, not Playwright's download (no CDN here). Without the background-networking flags Chromium
# opens connections of its own (updates, sync, QUIC probes), and here they are refused many at a time.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # we run as root in a container: Chromium's sandbox refuses to start as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# The real Celery worker and its session queue, shared by the scans tests and the browser tests.
pytest_plugins = ["tests.workers"]


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


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """One test database per pytest process: several people (and CI) share the one PostgreSQL here.

    pytest-django would name it test_dockerbench for everyone and drop another run's database mid-run.
    """
    from django.conf import settings
    from pytest_django.fixtures import _set_suffix_to_test_databases

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3") and not (db.get("TEST") or {}).get("NAME"):
        # On SQLite, a file rather than memory, so a Celery worker subprocess sees the test database too.
        db.setdefault("TEST", {})["NAME"] = str(settings.VAR_DIR / "test-db.sqlite3")
    _set_suffix_to_test_databases(suffix=f"pid{os.getpid()}")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis the Celery tests use (REDIS_URL; make test points it at 127.0.0.1:6379/15), checked to answer."""
    import redis

    url = os.environ.get("REDIS_URL", "")
    if not url:
        pytest.fail("REDIS_URL is not set; make test sets it to redis://127.0.0.1:6379/15", pytrace=False)
    problem = ""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        pytest.fail(f"Redis does not answer at {url} ({problem}); run scripts/services.sh as root", pytrace=False)
    return url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """A headless Debian Chromium driven by sync Playwright, shared by the session."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing; run scripts/services.sh as root (it installs chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    # Sync Playwright keeps an asyncio event loop in this thread, and Django refuses ORM calls from a thread
    # with a running loop (SynchronousOnlyOperation) although our tests are synchronous: allow them for this run.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies from other tests) and one page in it, closed after the test."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()
