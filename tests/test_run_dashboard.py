"""`manage.py run_dashboard` (what `make run` runs) as a real process tree: web server, Celery worker and beat.

A killed worker is restarted under the same name while the web keeps answering; a worker that cannot start is
given up after a few tries and takes the dashboard down with a message; SIGTERM leaves no process behind.

Each dashboard gets its own SQLite database and its own broker folder (DOCKERBENCH_BROKER_DIR), so a
developer's var/ (database, queued messages, a `make run` in progress) is never read or touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.management.commands.run_dashboard import STOP_TIMEOUT

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
READY = re.compile(r"^worker \| .*celery@\S+ ready\.$", re.MULTILINE)


def _environment(folder: Path, database: Path) -> dict[str, str]:
    if not Path("/proc/self/stat").exists():
        pytest.fail("these tests follow the dashboard's processes through /proc, which is not mounted", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_DEBUG"}}
    for name in ("DJANGO_SECRET_KEY", "DOCKERBENCH_ENCRYPTION_KEY"):  # pytest-env's throwaway values
        if not env.get(name):
            pytest.fail(
                f"{name} is not set: pyproject.toml's pytest-env gives one (is pytest-env installed?)", pytrace=False
            )
    env.update(
        DATABASE_URL=f"sqlite:///{database}",  # an absolute path: sqlite:////tmp/...
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SETTINGS_MODULE="config.settings",
        DOCKERBENCH_BROKER_DIR=str(folder / "celery"),
    )
    return env


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database; each dashboard gets a copy."""
    folder = tmp_path_factory.mktemp("migrated")
    database = folder / "db.sqlite3"
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=_environment(folder, database),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return database


class Dashboard:
    """`manage.py run_dashboard` in a temporary environment, its output collected, its processes watched."""

    def __init__(self, folder: Path, database: Path, *args: str) -> None:
        shutil.copy(database, folder / "db.sqlite3")
        self.port = _free_port()
        self.broker = folder / "celery"
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_dashboard", "--addr", f"127.0.0.1:{self.port}", *args],
            cwd=ROOT,
            env=_environment(folder, folder / "db.sqlite3"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._output: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        # Every process ever seen under the dashboard, as (pid, start time) so a reused pid is not mistaken for it.
        self.seen: set[tuple[int, int]] = set()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            with self._changed:
                self._output.append(raw.decode("utf-8", "replace"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _watch(self) -> None:
        while self.proc.poll() is None:
            found = _descendants(self.proc.pid)
            with self._changed:
                self.seen |= set(found.items())
            time.sleep(0.05)

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self._output)

    def wait_for(self, pattern: str | re.Pattern[str], *, count: int = 1, timeout: float = START_TIMEOUT) -> None:
        """Until the output matches ``pattern`` ``count`` times; fails with the output if it does not."""
        regex = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(regex.findall("".join(self._output))) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    break
                self._changed.wait(min(left, 0.5))
            else:
                return
        pytest.fail(f"no {count} x {regex.pattern!r} within {timeout:.0f} s; the output:\n{self.output}")

    def worker_pid(self) -> int:
        """The worker's main process: the child of run_dashboard that runs `celery ... worker`."""
        workers = [pid for pid, (_, argv) in _children(self.proc.pid).items() if "worker -n celery@%h" in argv]
        assert len(workers) == 1, f"expected one worker process, found {workers}:\n{self.output}"
        return workers[0]

    def healthz(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz/", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_until_web_answers(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.healthz():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                pytest.fail(f"the web server did not answer /healthz/ within {START_TIMEOUT:.0f} s:\n{self.output}")
            time.sleep(0.1)

    def left_behind(self) -> list[int]:
        """The pids, among every process seen under the dashboard, that still exist (not even as zombies)."""
        with self._changed:
            seen = set(self.seen)
        return sorted(pid for pid, start in seen if _start_time(pid) == start)

    def wait_until_all_gone(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.left_behind() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = {pid: _cmdline(pid) for pid in self.left_behind()}
        assert not left, f"processes left behind: {left}\n{self.output}"

    def kill(self) -> None:
        """Cleanup after a failed test: SIGTERM, then SIGKILL for the dashboard and everything it started."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT + 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.left_behind():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def crash_looping(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Dashboard]:
    # Celery refuses a negative concurrency, so this worker exits at once every time: a genuinely broken option.
    dashboard = Dashboard(tmp_path_factory.mktemp("crash-loop"), migrated_database, "--concurrency", "-1")
    yield dashboard
    dashboard.kill()


@pytest.fixture(scope="module", autouse=True)
def _crash_loop_in_the_background(crash_looping: Dashboard) -> None:
    """Started before the first test: its ~17 s of backoff (1 + 2 + 4 + 8 s) overlaps the restart test."""


@pytest.fixture
def dashboard(tmp_path: Path, migrated_database: Path) -> Iterator[Dashboard]:
    started = Dashboard(tmp_path, migrated_database)
    yield started
    started.kill()


def test_it_restarts_a_killed_worker_under_the_same_name_while_the_web_keeps_answering(dashboard: Dashboard) -> None:
    dashboard.wait_until_web_answers()
    dashboard.wait_for(READY)
    first = dashboard.worker_pid()
    assert f"worker (pid {first})" in dashboard.output
    assert f"broker: embedded filesystem broker in {dashboard.broker}" in dashboard.output
    assert (dashboard.broker / "queue").is_dir() and (dashboard.broker / "control").is_dir()
    first_pool = set(_descendants(first))
    assert first_pool, "the worker (prefork, 2 processes) has no pool processes"

    answers: list[bool] = []
    watching = threading.Event()

    def poll_web() -> None:
        while not watching.is_set():
            answers.append(dashboard.healthz())
            time.sleep(0.1)

    poller = threading.Thread(target=poll_web, daemon=True)
    poller.start()
    os.kill(first, signal.SIGKILL)
    dashboard.wait_for(rf"^worker \(pid {first}\) was killed by SIGKILL after [\d.]+ s; restarting it in 1\.0 s$")
    dashboard.wait_for(r"^worker started again \(pid \d+\)$")
    dashboard.wait_for(READY, count=2)
    watching.set()
    poller.join()

    second = dashboard.worker_pid()
    assert second != first
    assert f"worker started again (pid {second})" in dashboard.output
    names = re.findall(r"^worker \| .*?(celery@\S+) ready\.$", dashboard.output, re.MULTILINE)
    assert len(names) == 2 and names[0] == names[1], names  # the name the new worker recovers scans by
    assert not [pid for pid in first_pool if _start_time(pid) is not None], "the killed worker's pool is still there"
    assert dashboard.proc.poll() is None, dashboard.output
    assert len(answers) >= 5 and all(answers), f"the web stopped answering while the worker restarted: {answers}"

    dashboard.proc.send_signal(signal.SIGTERM)
    assert dashboard.proc.wait(timeout=STOP_TIMEOUT + 5) == 0, dashboard.output
    assert "worker: Warm shutdown" in dashboard.output
    assert dashboard.output.rstrip().endswith("Stopped web, worker, interactive and beat."), dashboard.output
    dashboard.wait_until_all_gone()


def test_a_stop_while_the_worker_waits_to_be_restarted_stops_the_others_and_starts_nothing(
    dashboard: Dashboard,
) -> None:
    dashboard.wait_for(r"^Started web \(pid \d+\), worker \(pid \d+\), interactive \(pid \d+\), beat \(pid \d+\)$")
    os.kill(dashboard.worker_pid(), signal.SIGKILL)
    dashboard.wait_for(r"^worker \(pid \d+\) was killed by SIGKILL after [\d.]+ s; restarting it in 1\.0 s$")
    dashboard.proc.send_signal(signal.SIGTERM)  # within the second it waits
    assert dashboard.proc.wait(timeout=STOP_TIMEOUT + 5) == 0, dashboard.output
    assert "worker started again" not in dashboard.output
    assert "Stopping web, interactive, beat (a worker first finishes its running task)...\n" in dashboard.output
    dashboard.wait_until_all_gone()


def test_a_worker_that_keeps_exiting_stops_the_dashboard_with_the_reason(crash_looping: Dashboard) -> None:
    try:
        code = crash_looping.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the dashboard still runs a worker that cannot start:\n{crash_looping.output}")
    output = crash_looping.output
    assert code == 1, output
    # In order: the worker's own complaint, then what the dashboard does about it, five times over.
    refusal = "worker | Error: Invalid value for '-c' / '--concurrency': must be a non-negative integer"
    restart = re.compile(r"worker \(pid \d+\) exited with code 2 after [\d.]+ s; restarting it in (\d\.0 s)")
    events = []
    for line in output.splitlines():
        if line.startswith(refusal):
            events.append("refused")
        elif match := restart.fullmatch(line):
            events.append(match[1])
        elif line.startswith("CommandError: "):
            events.append("gave up")
    expected = ["refused", "1.0 s", "refused", "2.0 s", "refused", "4.0 s", "refused", "8.0 s", "refused", "gave up"]
    assert events == expected, output
    assert re.search(
        r"^CommandError: worker exited 5 times within [\d.]+ s \(last: exited with code 2\), so it was not restarted"
        r" again and the others were stopped\. Look at its output above \(the lines starting 'worker \|'\)",
        output,
        re.MULTILINE,
    ), output
    assert "Stopping web, interactive, beat (a worker first finishes its running task)...\n" in output, output
    crash_looping.wait_until_all_gone()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may hold spaces: the fields after it are split from its end.
    return text[text.rindex(")") + 2 :].split()


def _start_time(pid: int) -> int | None:
    fields = _stat(pid)
    # A zombie has exited: what remains is its parent's to reap, not a process left running.
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _processes() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (parent pid, start time)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] != "Z":
                found[int(entry.name)] = (int(fields[1]), int(fields[19]))
    return found


def _children(parent: int) -> dict[int, tuple[int, str]]:
    """Live children of ``parent``: pid -> (start time, command line)."""
    return {pid: (start, _cmdline(pid)) for pid, (ppid, start) in _processes().items() if ppid == parent}


def _descendants(root: int) -> dict[int, int]:
    """Live descendants of ``root``: pid -> start time."""
    processes = _processes()
    found: dict[int, int] = {}
    parents = {root}
    while parents:
        children = {pid: start for pid, (ppid, start) in processes.items() if ppid in parents and pid not in found}
        found.update(children)
        parents = set(children)
    return found
