"""Shared helpers of the benchmarks: a private dockerd to measure on, and labelled sleeping containers.

The benchmarks need a daemon whose containers are only theirs, so other people's containers
(and their test daemons being stopped and started) do not move the figures. ``BenchDaemon``
starts a dockerd in a network namespace of its own, with its own data root, exec root, pid
file and socket, loads the test image into it, and removes all of it on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import docker
import docker.errors

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TEST_IMAGE = "dockerbench/busybox:test"
HOST_SOCKET = "unix:///var/run/docker.sock"
LABEL = "io.dockerbench.bench"
# Each container changes a few files before it sleeps, so `diff` has something to report.
CONTAINER_CMD = [
    "sh",
    "-c",
    "mkdir -p /srv/app && echo a >/srv/app/a && echo b >/srv/app/b && touch /etc/bench && exec sleep 86400",
]

T = TypeVar("T")


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


class BenchDaemon:
    """A throwaway dockerd in its own network namespace, reachable at ``self.url``.

    Everything it creates lives under ``workdir`` (data root) and ``/run/dbb-<pid>`` (exec root,
    socket, pid file) and is removed by ``stop``. Needs root.
    """

    def __init__(self, workdir: Path, image_source: str = HOST_SOCKET) -> None:
        tag = f"dbb-{os.getpid()}"
        self.netns = tag
        self.run_dir = Path("/run") / tag
        self.data_root = workdir / f"dockerd-{os.getpid()}"
        self.socket = self.run_dir / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.image_source = image_source
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False
        self.log_path = self.data_root.parent / f"dockerd-{os.getpid()}.log"

    def start(self, timeout: float = 60.0) -> None:
        if os.geteuid() != 0:
            raise SystemExit("starting a private dockerd needs root; or pass --socket to use a running daemon")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        _run(["ip", "netns", "add", self.netns])
        _run(["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up"])
        # nsenter, not `ip netns exec`: that one remounts /sys, which hides the cgroup mounts from dockerd.
        cmd = [
            "nsenter",
            f"--net=/run/netns/{self.netns}",
            "dockerd",
            "--host",
            self.url,
            "--data-root",
            str(self.data_root / "data"),
            "--exec-root",
            str(self.run_dir / "exec"),
            "--pidfile",
            str(self.run_dir / "dockerd.pid"),
        ]
        log(f"starting dockerd in netns {self.netns} at {self.url} (log {self.log_path})")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                docker.APIClient(base_url=self.url, version="auto", timeout=5).close()
                break
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"the private dockerd did not come up; see {self.log_path}") from None
                time.sleep(0.5)
        self._load_image()

    def _load_image(self) -> None:
        log(f"loading {TEST_IMAGE} from {self.image_source}")
        for attempt in range(5):
            save = subprocess.run(
                ["docker", "-H", self.image_source, "save", TEST_IMAGE], check=False, capture_output=True
            )
            if save.returncode == 0:
                break
            log(f"docker save failed ({save.stderr.decode(errors='replace').strip()}); retrying")
            time.sleep(2 + attempt)
        else:
            raise SystemExit(f"cannot read {TEST_IMAGE} from {self.image_source}")
        subprocess.run(["docker", "-H", self.url, "load", "-q"], input=save.stdout, check=True, capture_output=True)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        clean = self.proc is not None and self.proc.poll() is None  # else keep its log to read why
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                remove_ours(docker.APIClient(base_url=self.url, version="auto", timeout=30))
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        subprocess.run(["ip", "netns", "delete", self.netns], check=False, capture_output=True)
        # dockerd unmounts its layers on a clean stop; anything still mounted below is unmounted first.
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        for line in reversed(mounts):
            point = line.split()[1]
            if point.startswith((str(self.data_root), str(self.run_dir))):
                subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        shutil.rmtree(self.data_root, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if clean:
            self.log_path.unlink(missing_ok=True)
        log(f"private dockerd stopped and removed ({self.netns})")

    def __enter__(self) -> BenchDaemon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def bench_daemon(socket: str | None, workdir: Path) -> Iterator[str]:
    """Yield the URL of the daemon to measure: ``socket`` as given, or a private one made for the run."""
    if socket:
        yield socket
        return
    daemon = BenchDaemon(workdir)
    try:
        daemon.start()
        yield daemon.url
    finally:
        daemon.stop()


def ours(client: docker.APIClient) -> list[dict]:
    return client.containers(all=True, filters={"label": f"{LABEL}={os.getpid()}"})


def _start_one(client: docker.APIClient, index: int, network_mode: str | None = None) -> None:
    created = client.create_container(
        TEST_IMAGE,
        CONTAINER_CMD,
        name=f"bench-{os.getpid()}-{index}",
        labels={LABEL: str(os.getpid())},
        host_config=client.create_host_config(network_mode=network_mode) if network_mode else None,
    )
    client.start(created["Id"])


def populate(client: docker.APIClient, count: int, workers: int = 4, network_mode: str | None = None) -> None:
    """Make exactly ``count`` of our labelled containers run (adding or removing), and wait for their diffs.

    ``network_mode`` "none" for a daemon started with --bridge=none."""
    have = ours(client)
    if len(have) > count:
        extra = have[count:]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda c: client.remove_container(c["Id"], force=True), extra))
    elif len(have) < count:
        used = {n.lstrip("/") for c in have for n in c.get("Names") or ()}
        todo = [i for i in range(count * 2) if f"bench-{os.getpid()}-{i}" not in used][: count - len(have)]
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda i: _start_one(client, i, network_mode), todo))
        log(f"started {len(todo)} containers in {time.perf_counter() - started:.1f} s")
    # The changed files are written by the containers themselves: wait until every one shows them.
    deadline = time.monotonic() + 60
    for c in ours(client):
        while not any(d.get("Path") == "/etc/bench" for d in client.diff(c["Id"]) or ()):
            if time.monotonic() > deadline:
                raise SystemExit(f"container {c['Id'][:12]} never wrote its files")
            time.sleep(0.2)
    running = sum(1 for c in ours(client) if c.get("State") == "running")
    if running != count:
        raise SystemExit(f"wanted {count} running containers, have {running}")


def remove_ours(client: docker.APIClient) -> None:
    have = ours(client)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda c: client.remove_container(c["Id"], force=True), have))
    if have:
        log(f"removed {len(have)} bench containers")


class CeleryWorker:
    """A `celery worker` subprocess (``argv`` after the interpreter) in a process group of its own, so that its
    pool's memory can be summed; waits until it says it is ready."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, timeout: float = 60.0) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [sys.executable, *argv],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while b" ready." not in log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(keep_log=True)
                raise SystemExit(f"the worker did not start; see {log_path}")
            time.sleep(0.05)

    def rss_mb(self) -> float:
        """The resident memory of the worker and its pool (every process of its group), in MiB."""
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                if int(fields[2]) == self.proc.pid:
                    total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, IndexError):
                continue
        return total / 2**20

    def stop(self, keep_log: bool = False) -> None:
        """Warm shutdown (SIGTERM); the whole group is killed if it has not stopped within a minute."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        if not keep_log:
            self.log_path.unlink(missing_ok=True)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def machine() -> str:
    cpus = os.cpu_count()
    mem = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) // 1024 // 1024} GiB RAM"
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{cpus} cores ({model}){mem}, Linux {os.uname().release}"
