"""The embedded dashboard on one machine: the web server, a Celery worker and Celery beat as child processes.

`make run` starts it after `setup_dashboard`. Each child's output is printed with its name in front; Ctrl-C
(or SIGTERM) stops all three, and when one of them dies the others are stopped too, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# Seconds the children get to stop before they are killed: a warm Celery shutdown takes several seconds even when
# idle (measured 6-8 s on the filesystem broker), and lets a running scan task finish.
STOP_TIMEOUT = 30.0


class Command(BaseCommand):
    help = "Run the dashboard's web server, a Celery worker and Celery beat until Ctrl-C."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--addr", default="127.0.0.1:8000", help="address:port for the web server")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")

    def handle(self, *args, addr: str, concurrency: int, **options) -> None:  # type: ignore[no-untyped-def]
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        python = sys.executable
        # runserver is fine for one machine; without DEBUG it serves static files only with --insecure
        # (there is no separate static server in the embedded mode). --noreload: a product run, not development.
        web = [python, manage, "runserver", addr, "--noreload"]
        if not settings.DEBUG:
            web.append("--insecure")
        commands = {
            "web": web,
            "worker": [python, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO", f"-c{concurrency}"],
            "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"],
        }
        stopping = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            stopping.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        children: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, argv in commands.items():
                # Own session: Ctrl-C reaches only this process, which then stops the children in order.
                child = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=settings.BASE_DIR,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},  # their lines reach us as they are written
                )
                children[name] = child
                threading.Thread(target=_relay, args=(name, child.stdout), daemon=True).start()
            self._say_how_to_log_in(addr)
            failed = self._wait(children, stopping)
        finally:
            self._stop(children)
        if failed:
            raise CommandError(f"{failed} exited unexpectedly; the others were stopped (see its output above)")

    def _say_how_to_log_in(self, addr: str) -> None:
        broker = "Redis" if settings.REDIS_URL else "embedded filesystem broker in var/celery/"
        database = settings.DATABASES["default"]
        where = database["NAME"] if database["ENGINE"].endswith("sqlite3") else database["ENGINE"].rsplit(".", 1)[1]
        username = os.environ.get("DOCKERBENCH_ADMIN_USER", "admin")
        self.stdout.write(
            self.style.SUCCESS(f"\nDashboard: http://{addr}/")
            + f"\n  Log in as {username!r} with the password printed by the first run (or DOCKERBENCH_ADMIN_PASSWORD);"
            f"\n  forgot it? .venv/bin/python manage.py changepassword {username}"
            f"\n  Database: {where}; broker: {broker}. Worker and beat are running. Ctrl-C stops all three.\n"
        )

    def _wait(self, children: dict[str, subprocess.Popen[bytes]], stopping: threading.Event) -> str:
        while not stopping.wait(0.5):
            for name, child in children.items():
                if child.poll() is not None:
                    return f"{name} (exit {child.returncode})"
        return ""

    def _stop(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        # SIGTERM to the main process only: a warm shutdown for Celery (it stops its own pool processes after the
        # running task), a clean exit for runserver. The whole process group is killed only if that times out.
        running = [name for name, child in children.items() if child.poll() is None]
        if running:
            self.stdout.write(f"Stopping {', '.join(running)} (a worker first finishes its running task)...")
        for name in running:
            with contextlib.suppress(ProcessLookupError):
                children[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop within {STOP_TIMEOUT:.0f}s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)  # with its pool processes
                child.wait()
        if children:
            self.stdout.write("Stopped web, worker and beat.")


def _relay(name: str, stream: IO[bytes] | None) -> None:
    if stream is None:
        return
    prefix = f"{name:>6} | "
    for raw in iter(stream.readline, b""):
        sys.stdout.write(prefix + raw.decode("utf-8", "replace"))
        sys.stdout.flush()
