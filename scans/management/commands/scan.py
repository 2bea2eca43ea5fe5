"""manage.py scan: queue scans from the shell through the dashboard's own workflow, and optionally wait for them.

The scans are queued by ``scans.services.queue_scan``, as "Scan now" and the schedules queue theirs: one active
scan per host (a host already scanning keeps its scan, and the command reports and waits for that one), the
"scan queued" audit entry, the Celery message sent on commit. Their trigger is ``Scan.Trigger.API`` (a program
asked, not a person on the dashboard nor a schedule) and they have no user, as the system's own actions have none.

Exit codes, as ``python -m dockerbench``: 0 queued (with --wait: every scan finished with results);
1 with --wait, a finished scan has a result whose status --fail-on names; 2 a host could not be scanned
(unknown name or tag, disabled host, scan failed or cancelled, unfinished at --timeout) or bad arguments.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils import timezone

from dockerbench.results import Status
from hosts.models import Host, Tag
from scans.models import Scan
from scans.services import queue_scan

EXIT_OK, EXIT_FAILED_CHECKS, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C
DEFAULT_TIMEOUT = 1800.0
# How often --wait reads the scans' rows: one query per poll, whatever the number of scans.
POLL_SECONDS = 0.5
SUCCESSFUL = Scan.SCORED_STATUSES
TRIGGER = Scan.Trigger.API


def _csv(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def _printable(text: object) -> str:
    # Scan errors quote the engine and the network: no escape sequence of theirs reaches the terminal.
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text))


def _findings(scan: Scan | None) -> dict[str, Any]:
    """A scan's result counts per status (summary["findings"]), waived WARN findings counted as WAIVED, not
    WARN (summary["waived"]); {} for a scan without results."""
    summary = scan.summary if scan is not None and isinstance(scan.summary, dict) else {}
    findings = summary.get("findings")
    if not isinstance(findings, dict):
        return {}
    waived = summary.get("waived")
    if not isinstance(waived, dict):
        waived = {}
    try:
        n = int(waived.get("findings") or 0)
    except (TypeError, ValueError):
        n = 0
    if n:
        findings = {**findings, "WARN": max(0, int(findings.get("WARN") or 0) - n), "WAIVED": n}
    return findings


def _seconds(scan: Scan) -> float | None:
    duration = scan.duration
    return round(duration.total_seconds(), 1) if duration is not None else None


@dataclass
class _Target:
    """One selected host and what became of it: its scan, or why it has none."""

    host: Host
    scan: Scan | None = None
    queued: bool = False  # a new scan; False: the one already queued or running
    problem: str = ""  # why the host has no scan (or lost it)

    def as_json(self) -> dict[str, Any]:
        scan = self.scan
        return {
            "host": self.host.name,
            "host_id": self.host.pk,
            "scan_id": scan.pk if scan else None,
            "queued": self.queued,
            "status": scan.status if scan else None,
            "score": scan.score if scan else None,
            "warn_count": scan.warn_count if scan else None,
            "findings": _findings(scan),
            "duration_seconds": _seconds(scan) if scan else None,
            "error": self.problem or (scan.error if scan else ""),
            "url": reverse("scans:scan", args=[scan.pk]) if scan else None,
        }


class Command(BaseCommand):
    help = (
        "Queue scans of hosts (by name or id), of every enabled host with a tag (--tag), or of every enabled host "
        "(--all), as the dashboard's 'Scan now' does; a host already scanning keeps its scan. With --wait, wait for "
        "them and exit like python -m dockerbench: 0 done, 1 a result matched --fail-on, 2 a host could not be "
        "scanned (unknown, disabled, scan failed or cancelled, or unfinished at --timeout)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "hosts",
            nargs="*",
            metavar="HOST",
            help="a host's name, or its id when no host has that name; unknown ones are an error (nothing queued)",
        )
        parser.add_argument(
            "--tag", action="append", metavar="TAG", help="every enabled host with this tag (repeat, or a,b)"
        )
        parser.add_argument("--all", action="store_true", dest="all_hosts", help="every enabled host")
        parser.add_argument("--wait", action="store_true", help="wait for the scans to finish and print each result")
        parser.add_argument(
            "--timeout",
            type=float,
            metavar="SECONDS",
            help=f"with --wait: give up after this long, exit 2 (default {DEFAULT_TIMEOUT:.0f})",
        )
        parser.add_argument(
            "--fail-on",
            action="append",
            metavar="STATUS",
            help="with --wait: exit 1 when a finished scan has a result with one of these statuses, e.g. WARN,ERROR",
        )
        parser.add_argument(
            "--json", dest="json_file", metavar="FILE", help="write a JSON summary to FILE ('-' for standard output)"
        )

    def handle(
        self,
        *args: Any,
        hosts: list[str],
        tag: list[str] | None,
        all_hosts: bool,
        wait: bool,
        timeout: float | None,
        fail_on: list[str] | None,
        json_file: str | None,
        **options: Any,
    ) -> None:
        statuses = self._fail_on(fail_on)
        if not wait and (timeout is not None or statuses):
            raise CommandError("--timeout and --fail-on need --wait", returncode=EXIT_ERROR)
        if timeout is not None and not timeout > 0:  # NaN too
            raise CommandError("--timeout takes a number of seconds above 0", returncode=EXIT_ERROR)
        if json_file and json_file != "-" and not Path(json_file).resolve().parent.is_dir():
            raise CommandError(f"--json: no directory for {json_file}", returncode=EXIT_ERROR)
        # With the JSON on standard output, the lines for people go to standard error.
        self._out = self.stderr if json_file == "-" else self.stdout

        targets = [self._queue(host) for host in self._select(hosts, _csv(tag), all_hosts)]
        unfinished: list[_Target] = []
        if wait:
            try:
                unfinished = self._wait(targets, DEFAULT_TIMEOUT if timeout is None else timeout)
            except KeyboardInterrupt:
                code, why = EXIT_INTERRUPTED, self._interrupted(targets)
            else:
                code, why = self._verdict(targets, unfinished, statuses, timeout)
        else:
            code, why = self._verdict(targets, [], set(), None)
        if json_file:
            self._write_json(json_file, targets, code)
        if code != EXIT_OK:
            raise CommandError(why, returncode=code)

    # -- choosing hosts ---------------------------------------------------------------------------------

    def _fail_on(self, values: list[str] | None) -> set[str]:
        try:
            return {Status(v.upper()).value for v in _csv(values)}
        except ValueError:
            raise CommandError(
                "--fail-on takes statuses among " + ", ".join(s.value for s in Status), returncode=EXIT_ERROR
            ) from None

    def _select(self, names: list[str], tags: list[str], all_hosts: bool) -> list[Host]:
        """The hosts to scan: those named (in that order), then the enabled ones the tags or --all select, by name.

        Every name and tag is checked before anything is queued: one unknown, and nothing is.
        """
        if not (names or tags or all_hosts):
            raise CommandError("name the hosts to scan, or use --tag or --all", returncode=EXIT_ERROR)
        by_name = {h.name: h for h in Host.objects.filter(name__in=names)}
        # A name wins over an id: a host named "12" is that host, whatever the id of host #12.
        ids = {int(n) for n in names if n not in by_name and n.isascii() and n.isdigit()}
        by_id = {h.pk: h for h in Host.objects.filter(pk__in=ids)} if ids else {}

        def find(name: str) -> Host | None:
            if name in by_name:
                return by_name[name]
            return by_id.get(int(name)) if name.isascii() and name.isdigit() else None

        unknown = [n for n in dict.fromkeys(names) if find(n) is None]
        known_tags = set(Tag.objects.filter(name__in=tags).values_list("name", flat=True))
        unknown_tags = [t for t in dict.fromkeys(tags) if t not in known_tags]
        if unknown or unknown_tags:
            problems = []
            if unknown:
                problems.append("no host is named (or has the id) " + ", ".join(map(repr, unknown)))
            if unknown_tags:
                problems.append("no tag is named " + ", ".join(map(repr, unknown_tags)))
            raise CommandError("; ".join(problems) + ". Nothing was queued.", returncode=EXIT_ERROR)

        chosen: dict[int, Host] = {}
        for name in names:
            host = find(name)
            if host is not None:
                chosen.setdefault(host.pk, host)
        if tags or all_hosts:
            matching = Host.objects.all() if all_hosts else Host.objects.filter(tags__name__in=tags).distinct()
            left_out = []
            for host in matching.order_by("name"):
                if host.enabled:
                    chosen.setdefault(host.pk, host)
                elif host.pk not in chosen:
                    left_out.append(host.name)
            if left_out:  # as a schedule does: only a host named on the command line is tried when disabled
                self._say(f"Left out {len(left_out)} disabled host(s): {', '.join(left_out)}")
        if not chosen:
            raise CommandError("no enabled host matches: nothing to scan", returncode=EXIT_ERROR)
        return list(chosen.values())

    # -- queuing and waiting ------------------------------------------------------------------------------

    def _queue(self, host: Host) -> _Target:
        if not host.enabled:
            target = _Target(host, problem="the host is disabled")
            self._say(
                f"{host.name}: not scanned: {target.problem} (enable it on its page to scan it)", style=self.style.ERROR
            )
            return target
        scan, created = queue_scan(host, trigger=TRIGGER)
        where = reverse("scans:scan", args=[scan.pk])
        if created:
            self._say(f"{host.name}: queued scan #{scan.pk} ({where})")
        else:
            since = timezone.localtime(scan.started or scan.created).strftime("%Y-%m-%d %H:%M:%S")
            self._say(
                f"{host.name}: scan #{scan.pk} is already {scan.status} (since {since}, trigger "
                f"{scan.get_trigger_display()}); not queued again ({where})",
                style=self.style.WARNING,
            )
        return _Target(host, scan=scan, queued=created)

    def _wait(self, targets: list[_Target], timeout: float) -> list[_Target]:
        """Poll the scans until each has finished or ``timeout`` s have passed; print each as it finishes.
        Returns the targets whose scans are still active (their rows as last read). Ctrl-C raises
        KeyboardInterrupt between two polls, never inside a query."""
        pending = {t.scan.pk: t for t in targets if t.scan is not None}
        with _interrupt_between_polls() as interrupted:
            if pending:
                self._say(f"Waiting for {len(pending)} scan(s), at most {timeout:g} s ...")
            return self._poll(pending, timeout, interrupted)

    def _poll(self, pending: dict[int, _Target], timeout: float, interrupted: threading.Event) -> list[_Target]:
        deadline = time.monotonic() + timeout
        while pending:
            rows = {scan.pk: scan for scan in Scan.objects.filter(pk__in=list(pending))}
            for pk in list(pending):
                target = pending[pk]
                scan = rows.get(pk)
                if scan is None:  # deleted with its host, most likely
                    target.problem = f"scan #{pk} was deleted while we waited"
                    self._say(f"{target.host.name}: {target.problem}", style=self.style.ERROR)
                    del pending[pk]
                    continue
                target.scan = scan
                if scan.is_finished:
                    self._say_result(target.host, scan)
                    del pending[pk]
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                break
            if interrupted.wait(min(POLL_SECONDS, left)):
                raise KeyboardInterrupt
        return list(pending.values())

    def _verdict(
        self, targets: list[_Target], unfinished: list[_Target], statuses: set[str], timeout: float | None
    ) -> tuple[int, str]:
        """The exit code and, unless 0, why: any host not scanned beats a --fail-on match."""
        not_scanned = [f"{t.host.name} ({t.problem})" for t in targets if t.problem]
        done_badly = [
            f"{t.host.name} (scan #{t.scan.pk} {t.scan.status})"
            for t in targets
            if t.scan is not None and t.scan.is_finished and t.scan.status not in SUCCESSFUL
        ]
        problems = []
        if not_scanned or done_badly:
            problems.append(
                f"{len(not_scanned) + len(done_badly)} host(s) could not be scanned: "
                + ", ".join(not_scanned + done_badly)
            )
        if unfinished:
            waited = DEFAULT_TIMEOUT if timeout is None else timeout
            still = [f"{t.host.name} (scan #{t.scan.pk} {t.scan.status})" for t in unfinished if t.scan is not None]
            queued = any(t.scan is not None and t.scan.status == Scan.Status.QUEUED for t in unfinished)
            hint = " (is a worker running?)" if queued else ""
            problems.append(f"still unfinished after {waited:g} s: {', '.join(still)}{hint}; they keep running")
        if problems:
            return EXIT_ERROR, "; ".join(problems)
        matched = []
        for t in targets:
            findings = _findings(t.scan)
            hits = [f"{findings[s]} {s}" for s in sorted(statuses) if int(findings.get(s) or 0) > 0]
            if t.scan is not None and hits:
                matched.append(f"{t.host.name} (scan #{t.scan.pk}: {', '.join(hits)})")
        if matched:
            return EXIT_FAILED_CHECKS, f"--fail-on {','.join(sorted(statuses))}: " + ", ".join(matched)
        return EXIT_OK, ""

    def _interrupted(self, targets: list[_Target]) -> str:
        active = [f"#{t.scan.pk} ({t.host.name})" for t in targets if t.scan is not None and not t.scan.is_finished]
        return "interrupted" + (f": scans {', '.join(active)} keep running" if active else "")

    # -- output -------------------------------------------------------------------------------------------

    def _say(self, text: str, *, style: Any = None) -> None:
        self._out.write(_printable(text), style_func=style or (lambda s: s))

    def _say_result(self, host: Host, scan: Scan) -> None:
        seconds = _seconds(scan)
        took = f"{seconds:g} s" if seconds is not None else "no duration"
        if scan.status in SUCCESSFUL:
            score = "n/a" if scan.score is None else scan.score
            text = f"{host.name}: scan #{scan.pk} {scan.status}: score {score}, {scan.warn_count} WARN, {took}"
            if scan.status == Scan.Status.PARTIAL:
                parts = scan.summary.get("failed_parts", []) if isinstance(scan.summary, dict) else []
                text += f" (not collected: {', '.join(map(str, parts)) or 'some parts'})"
            self._say(text, style=self.style.SUCCESS)
        else:
            self._say(f"{host.name}: scan #{scan.pk} {scan.status} after {took}: {scan.error}", style=self.style.ERROR)

    def _write_json(self, path: str, targets: list[_Target], code: int) -> None:
        text = json.dumps({"exit_code": code, "hosts": [t.as_json() for t in targets]}, indent=2)
        if path == "-":
            self.stdout.write(text)
            return
        try:
            Path(path).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"--json: cannot write {path}: {exc.strerror or exc}", returncode=EXIT_ERROR) from exc


@contextlib.contextmanager
def _interrupt_between_polls() -> Iterator[threading.Event]:
    """While waiting, Ctrl-C sets an event the poll loop checks instead of raising wherever it lands. Raised
    inside a database query, KeyboardInterrupt left psycopg's connection mid-cancel, and the command then hung
    on the next query instead of exiting 130 (seen under load in CI)."""
    interrupted = threading.Event()
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.set())
    except ValueError:  # not the main thread (call_command from a worker thread): keep Python's default
        yield interrupted
        return
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
