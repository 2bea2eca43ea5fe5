"""Fixtures for scans on the real things: Redis, a Celery worker subprocess, dockerd, a gated Docker socket.

Loaded for the whole suite by the root conftest (pytest_plugins), so the scans tests and the browser
tests share one session queue and one way of starting workers.

Redis comes from the root conftest's redis_url, which fails (never skips) when Redis does not answer.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import docker
import kombu.pools
import pytest
import redis
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from dockerbench.tests.daemons import DockerSocketProxy

ROOT = Path(__file__).resolve().parents[1]
TEST_LABEL = "dockerbench.test"
WORKER_START_TIMEOUT = 30.0

# The worker, with broker options that make a dead worker's message come back within seconds
# (production keeps kombu's hour-long visibility timeout, above the scan time limit).
_WORKER_MAIN = """
import sys
import tempfile
from django.conf import settings
from config.celery import app
app.conf.task_default_queue = sys.argv[1]  # what the worker itself sends (run_schedule) stays on our queue
settings.DOCKERBENCH_INTERACTIVE_QUEUE = sys.argv[1] + ".interactive"  # and so do the scans it sends
settings.DOCKERBENCH_SCHEDULED_QUEUE = sys.argv[1] + ".scheduled"
app.conf.broker_transport_options = {
    "visibility_timeout": float(sys.argv[2]),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
app.worker_main(sys.argv[3:])
"""


@pytest.fixture(scope="session")
def celery_queue(redis_url: str) -> Iterator[str]:
    """This session's own queues on Redis: tasks the tests send go there, and only our workers read them.

    The default queue is ``<queue>``, the scans' are ``<queue>.interactive`` and ``<queue>.scheduled``.
    """
    queue = f"dockerbench-test-{uuid.uuid4().hex[:12]}"
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options, celery_app.conf.task_default_queue)
    saved_queues = (settings.DOCKERBENCH_INTERACTIVE_QUEUE, settings.DOCKERBENCH_SCHEDULED_QUEUE)
    _reset_producer()
    celery_app.conf.broker_url = redis_url
    celery_app.conf.broker_transport_options = {}
    celery_app.conf.task_default_queue = queue
    settings.DOCKERBENCH_INTERACTIVE_QUEUE, settings.DOCKERBENCH_SCHEDULED_QUEUE = _scan_queues(queue)
    yield queue
    _reset_producer()
    (celery_app.conf.broker_url, celery_app.conf.broker_transport_options, celery_app.conf.task_default_queue) = saved
    settings.DOCKERBENCH_INTERACTIVE_QUEUE, settings.DOCKERBENCH_SCHEDULED_QUEUE = saved_queues
    client = redis.Redis.from_url(redis_url)
    try:
        for name in (queue, *_scan_queues(queue)):
            client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    finally:
        client.close()


def _scan_queues(queue: str) -> tuple[str, str]:
    return f"{queue}.interactive", f"{queue}.scheduled"


def _reset_producer() -> None:
    # The app caches its connection pool and its queue/router objects; drop them so new settings apply. Its pool
    # lives in kombu's registry, keyed by broker URL: a test that sent a task before this session's queues were
    # set up left a pool there for the same Redis URL, so the registry is emptied too (closing only the app's
    # pool left a closed one to be handed out again: "Acquire on closed pool").
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.__dict__.pop("amqp", None)


def database_url() -> str:
    """The test database (after pytest-django created it) as a DATABASE_URL for another process."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        name = str(db["NAME"])
        assert not name.startswith(("file:", ":memory:")), "the worker cannot see an in-memory test database"
        return "sqlite:///" + name
    host = str(db.get("HOST") or "")
    netloc = quote(host, safe="") if host.startswith("/") else host
    auth = quote(str(db.get("USER") or ""), safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(str(db["PASSWORD"]), safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    query = urlencode(db.get("OPTIONS") or {})
    return f"postgres://{auth}@{netloc}{port}/{quote(str(db['NAME']), safe='')}" + (f"?{query}" if query else "")


class Worker:
    """A real `celery worker` process (solo pool) on this session's queues: all three, or those ``queues`` names
    ("default", "interactive", "scheduled")."""

    def __init__(
        self,
        queue: str,
        redis_url: str,
        *,
        scan_time_limit: int,
        visibility_timeout: float,
        name: str | None = None,
        heartbeat_seconds: float | None = None,
        queues: tuple[str, ...] = ("default", "interactive", "scheduled"),
    ) -> None:
        self.name = name or f"test-{uuid.uuid4().hex[:8]}@%h"
        self.hostname = self.name.replace("%h", socket.gethostname())
        self.log_path = ROOT / "var" / "log" / f"celery-{self.name.split('@')[0]}-{uuid.uuid4().hex[:6]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "DOCKERBENCH_SCAN_TIME_LIMIT": str(scan_time_limit),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        if heartbeat_seconds is not None:
            env["DOCKERBENCH_HEARTBEAT_SECONDS"] = str(heartbeat_seconds)
        interactive, scheduled = _scan_queues(queue)
        names = {"default": queue, "interactive": interactive, "scheduled": scheduled}
        args = ["worker", "-P", "solo", "-Q", ",".join(names[q] for q in queues), "-n", self.name, "--loglevel", "INFO"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_MAIN, queue, str(visibility_timeout), *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while b" ready." not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the Celery worker did not start:\n{self.log_text()[-3000:]}", pytrace=False)
            time.sleep(0.1)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task, with no chance to ack or clean up."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        self.log_path.unlink(missing_ok=True)


@pytest.fixture
def start_worker(transactional_db: None, celery_queue: str, redis_url: str) -> Iterator[Callable[..., Worker]]:
    """Start workers for one test; every one of them is stopped (and its log removed) afterwards."""
    workers: list[Worker] = []

    def start(
        *,
        scan_time_limit: int = 900,
        visibility_timeout: float = 3600,
        name: str | None = None,
        heartbeat_seconds: float | None = None,
        queues: tuple[str, ...] = ("default", "interactive", "scheduled"),
    ) -> Worker:
        worker = Worker(
            celery_queue,
            redis_url,
            scan_time_limit=scan_time_limit,
            visibility_timeout=visibility_timeout,
            name=name,
            heartbeat_seconds=heartbeat_seconds,
            queues=queues,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def containers(docker_url: str, test_image: str) -> Iterator[Callable[..., docker.models.containers.Container]]:
    """Run labelled test containers; all are removed afterwards."""
    client = docker.DockerClient(base_url=docker_url, timeout=60)
    label = uuid.uuid4().hex[:8]

    def run(command: str = "sleep 300", *, labels: dict[str, str] | None = None, **kwargs: object):
        return client.containers.run(
            test_image, ["sh", "-c", command], detach=True, labels={TEST_LABEL: label, **(labels or {})}, **kwargs
        )

    yield run
    for container in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={label}"}):
        container.remove(force=True)
    client.close()


class GatedDockerSocket(DockerSocketProxy):
    """A unix socket in front of dockerd that holds every request until ``release()``.

    Lets a test stop a scan mid-collection at a point it chooses, with the real engine behind it.
    """

    def __init__(self, path: Path, upstream: str = "/var/run/docker.sock") -> None:
        self.released = threading.Event()
        self.requests_seen = threading.Event()
        super().__init__(path, upstream, self._wait_for_release)

    def _wait_for_release(self) -> None:
        self.requests_seen.set()
        self.released.wait()

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.released.set()
        super().close()


@pytest.fixture
def gated_docker(docker_url: str) -> Iterator[GatedDockerSocket]:
    assert docker_url.startswith("unix://"), "the gate sits in front of a unix socket"
    directory = Path(tempfile.mkdtemp(prefix="dockerbench-gate-"))
    gate = GatedDockerSocket(directory / "docker.sock", upstream=docker_url.removeprefix("unix://"))
    try:
        yield gate
    finally:
        gate.close()
        shutil.rmtree(directory, ignore_errors=True)


def wait_for(predicate: Callable[[], object], *, timeout: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
