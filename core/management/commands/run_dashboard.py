"""The embedded dashboard on one machine: the web server, two Celery workers and Celery beat as child processes.

`make run` starts it after `setup_dashboard`. Each child's output is printed with its name in front; Ctrl-C
(or SIGTERM) stops them all, so nothing is left behind.

Two workers, because a scan someone asks for must not wait behind a night's scans: "worker" reads every queue
(housekeeping, interactive and scheduled scans), "interactive" only the interactive one, so a "Scan now" finds a
free slot even while every slot of the other is busy with a schedule (docs/deployment.md).

A child that exits on its own (killed, out of memory, crashed) is started again, with a line saying which one, how
it ended and when it comes back: after 1 s, then 2, 4, ... up to 30 s while it keeps failing, back to 1 s once it
has stayed up a minute. A child that exits CRASH_LIMIT times within CRASH_WINDOW is broken rather than unlucky (a
bad option, a port already in use, settings that do not load): then everything is stopped and the command fails,
naming it, instead of looping forever.

Each worker always runs under its own fixed name (WORKER_NAME, INTERACTIVE_WORKER_NAME): on start it recovers
the scans its dead predecessor held under that name (scans.tasks._recover_own_scans, which checks that their pids
are gone), so a restarted worker picks up at once what a killed one left running.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

# Seconds the children get to stop before they are killed: a warm Celery shutdown takes several seconds even when
# idle (measured 6-8 s on the filesystem broker), and lets a running scan task finish.
STOP_TIMEOUT = 30.0
# Restart backoff: the first delay, doubled at each exit up to the cap; back to the first delay for a child that
# had stayed up STABLE_AFTER seconds (it was working, this is a new failure).
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0
# CRASH_LIMIT exits within CRASH_WINDOW seconds: a crash loop. With the backoff above, a child that dies as it
# starts is given up after about 20 s; one that runs a while before each crash keeps being restarted.
CRASH_LIMIT = 5
CRASH_WINDOW = 60.0
# Celery's default node name (celery@<hostname>), passed explicitly: it must not change across restarts.
WORKER_NAME = "celery@%h"
INTERACTIVE_WORKER_NAME = "interactive@%h"
# Celery's default queue: beat's housekeeping tasks and the schedules' run_schedule go there.
DEFAULT_QUEUE = "celery"
POLL_SECONDS = 0.2

# The relay threads and the command's own lines share the terminal: one line at a time.
_OUTPUT_LOCK = threading.Lock()


class _Child:
    """One supervised process: its command, the process running it (if any) and its recent exits."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        self.relay: threading.Thread | None = None
        self.started = 0.0
        self.exits: collections.deque[float] = collections.deque(maxlen=CRASH_LIMIT)
        self.backoff = BACKOFF_FIRST
        self.restart_at: float | None = None

    def start(self) -> int:
        # Own session: Ctrl-C reaches only this process, which then stops the children in order; and a child's
        # process group holds exactly its own processes (a worker's pool), for kill_group.
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # their lines reach us as they are written
        )
        self.proc, self.started, self.restart_at = proc, time.monotonic(), None
        self.relay = threading.Thread(target=_relay, args=(self.name, proc.stdout), daemon=True)
        self.relay.start()
        return proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_group(self) -> None:
        """SIGKILL whatever is left in the child's process group once its main process is gone (e.g. the pool of a
        killed worker): it would keep the scans' pids alive for the next worker, and the output open."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def finish_output(self) -> None:
        # The relay reaches the end of the output once every process of the group has closed it: its last lines
        # (often why it exited) are printed before anything we say about it.
        if self.relay is not None:
            self.relay.join(timeout=2.0)


class Command(BaseCommand):
    help = "Run the dashboard's web server, a Celery worker and Celery beat until Ctrl-C; restart any that dies."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="address:port for the web server")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
        parser.add_argument(
            "--interactive-concurrency",
            type=int,
            default=1,
            help="processes of the second worker, kept for scans someone asks for",
        )

    def handle(self, *args: Any, addr: str, concurrency: int, interactive_concurrency: int, **options: Any) -> None:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        python = sys.executable
        # runserver is fine for one machine; without DEBUG it serves static files only with --insecure
        # (there is no separate static server in the embedded mode). --noreload: a product run, not development.
        web = [python, manage, "runserver", addr, "--noreload"]
        if not settings.DEBUG:
            web.append("--insecure")
        celery = [python, "-m", "celery", "-A", "config"]
        # The web server is restarted under the same rules as the worker and beat: a runserver that died (killed,
        # out of memory) is as worth bringing back as a worker, and stopping the whole dashboard for it would cut
        # a running scan short. One that cannot start at all (port in use, broken settings) crash-loops and stops
        # everything like the others.
        interactive, scheduled = settings.DOCKERBENCH_INTERACTIVE_QUEUE, settings.DOCKERBENCH_SCHEDULED_QUEUE
        queues = f"-Q{DEFAULT_QUEUE},{interactive},{scheduled}"
        children = [
            _Child("web", web),
            _Child("worker", [*celery, "worker", "-n", WORKER_NAME, queues, "--loglevel=INFO", f"-c{concurrency}"]),
            _Child(
                "interactive",
                [
                    *celery,
                    "worker",
                    "-n",
                    INTERACTIVE_WORKER_NAME,
                    f"-Q{interactive}",
                    "--loglevel=INFO",
                    f"-c{interactive_concurrency}",
                ],
            ),
            _Child("beat", [*celery, "beat", "--loglevel=INFO"]),
        ]
        stopping = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            stopping.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        try:
            self._say("Started " + ", ".join(f"{child.name} (pid {child.start()})" for child in children))
            self._say_how_to_log_in(addr)
            failed = self._supervise(children, stopping)
        finally:
            self._stop(children)
        if failed:
            raise CommandError(failed)

    def _say(self, text: str, *, warning: bool = False) -> None:
        out = self.stderr if warning else self.stdout
        with _OUTPUT_LOCK:
            out.write(text, style_func=self.style.WARNING if warning else None)
            out.flush()

    def _say_how_to_log_in(self, addr: str) -> None:
        broker = "Redis" if settings.REDIS_URL else f"embedded filesystem broker in {settings.CELERY_BROKER_DIR}"
        database = settings.DATABASES["default"]
        where = database["NAME"] if database["ENGINE"].endswith("sqlite3") else database["ENGINE"].rsplit(".", 1)[1]
        username = os.environ.get("DOCKERBENCH_ADMIN_USER", "admin")
        self._say(
            self.style.SUCCESS(f"\nDashboard: http://{addr}/")
            + f"\n  Log in as {username!r} with the password printed by the first run (or DOCKERBENCH_ADMIN_PASSWORD);"
            f"\n  forgot it? .venv/bin/python manage.py changepassword {username}"
            f"\n  Database: {where}; broker: {broker}. Workers and beat are running. Ctrl-C stops them all.\n"
        )

    def _supervise(self, children: list[_Child], stopping: threading.Event) -> str:
        """Restart children that exit, until a stop is requested (returns "") or one crash-loops (returns why)."""
        while not stopping.wait(POLL_SECONDS):
            for child in children:
                if child.restart_at is not None:
                    if time.monotonic() >= child.restart_at:
                        self._say(f"{child.name} started again (pid {child.start()})")
                elif child.proc is not None and child.proc.poll() is not None:
                    failed = self._schedule_restart(child, child.proc)
                    if failed:
                        return failed
        return ""

    def _schedule_restart(self, child: _Child, proc: subprocess.Popen[bytes]) -> str:
        """Say that ``child`` exited and when it comes back; or, when it crash-loops, return why not."""
        now = time.monotonic()
        child.kill_group()
        child.finish_output()
        how = _how_it_ended(proc.returncode)
        uptime = now - child.started
        if uptime >= STABLE_AFTER:
            child.backoff = BACKOFF_FIRST
        child.exits.append(now)
        if len(child.exits) == CRASH_LIMIT and now - child.exits[0] <= CRASH_WINDOW:
            return (
                f"{child.name} exited {CRASH_LIMIT} times within {_seconds(now - child.exits[0])} (last: {how}),"
                f" so it was not restarted again and the others were stopped. Look at its output above (the lines"
                f" starting '{child.name} |') for why it cannot run."
            )
        self._say(
            f"{child.name} (pid {proc.pid}) {how} after {_seconds(uptime)}; restarting it in {_seconds(child.backoff)}",
            warning=True,
        )
        child.restart_at = now + child.backoff
        child.backoff = min(child.backoff * 2, BACKOFF_MAX)
        return ""

    def _stop(self, children: list[_Child]) -> None:
        # SIGTERM to the main process only: a warm shutdown for Celery (it stops its own pool processes after the
        # running task), a clean exit for runserver. The whole process group is killed only if that times out.
        # A child waiting to be restarted has nothing running and is simply not started again.
        running = [child for child in children if child.running()]
        if running:
            names = ", ".join(child.name for child in running)
            workers = ("worker", "interactive")
            why = " (a worker first finishes its running task)" if any(c.name in workers for c in running) else ""
            self._say(f"Stopping {names}{why}...")
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]  # running() saw it
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"{child.name} did not stop within {STOP_TIMEOUT:.0f} s: killing it", warning=True)
                child.kill_group()
                child.proc.wait()
            child.kill_group()  # whatever its main process left behind
            child.finish_output()
        if any(child.proc is not None for child in children):
            self._say("Stopped " + _and([child.name for child in children]) + ".")


def _and(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


def _relay(name: str, stream: IO[bytes] | None) -> None:
    if stream is None:
        return
    prefix = f"{name:>6} | "
    with stream:
        for raw in iter(stream.readline, b""):
            with _OUTPUT_LOCK:
                sys.stdout.write(prefix + raw.decode("utf-8", "replace"))
                sys.stdout.flush()
