"""Scan workflows: start, cancel, run (on a Celery worker), record, reap, prune.

Safe to run twice: a worker claims a scan with a conditional UPDATE, and only the attempt that claimed it may
record its results (the claim's ``attempts`` number is checked again, under a row lock, in the transaction
that writes). A scan's life, as the reaper sees it:

- QUEUED: its task message is on its way. A message can be lost (the web process died between commit and
  send, the broker lost it): a scan queued for DOCKERBENCH_QUEUED_RESEND_SECONDS without a worker taking it is
  sent again, as it is when someone asks for it again ("Scan now", a schedule). A duplicate message is harmless.
- RUNNING: the attempt that holds it (``claim``, the Celery task id) refreshes ``heartbeat`` every
  DOCKERBENCH_HEARTBEAT_SECONDS. A retry of the same task (after a database error) resumes its own claim.
  A heartbeat older than DOCKERBENCH_HEARTBEAT_TIMEOUT_SECONDS means the worker died (killed, out of memory,
  machine restarted): the scan is queued again once, then failed with that reason. A worker that starts
  again notices its own dead scans at once, by its name and the dead process id.
- CANCELLED by an operator: the running attempt notices at its next heartbeat and records nothing.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, models, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from core.audit import record_event
from core.retention import delete_in_batches
from dockerbench.collect import CollectError, collect_snapshot
from dockerbench.report import summarize
from dockerbench.results import Result
from dockerbench.runner import evaluate, select
from dockerbench.snapshot import HostSnapshot
from hosts.crypto import CredentialUnreadable
from hosts.models import Host
from hosts.services import engine_target, process_alive
from scans import drift, rollups, tracking, waivers
from scans.models import DiffSnapshot, Episode, Finding, FleetDay, LatestScan, Scan, ScanSnapshot, Sighting
from scans.signals import scan_finished
from vulns.services import attach_known_reports, record_host_images

log = logging.getLogger(__name__)

# By name: the tasks module imports this one.
RUN_SCAN_TASK = "scans.tasks.run_scan"
# Progress is written at most this often while a scan runs (a page polls it every 2 s).
PROGRESS_INTERVAL = 0.3
# Checks are evaluated in chunks of this many so the progress bar moves during evaluation too.
_CHECK_CHUNK = 16
# A scan whose worker died is claimed at most this many times in all.
MAX_ATTEMPTS = 2
QUEUED_TOO_LONG = timedelta(days=1)
# The database being briefly unreachable is the one failure worth retrying: the task retries it, and the retry
# resumes the scan's claim. Every other failure is recorded on the scan.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)

# -- strings from hosts ------------------------------------------------------------------------------

# PostgreSQL refuses NUL in text and jsonb, and no driver can encode a lone surrogate. Hosts send both
# (file names are bytes; Python decodes undecodable bytes to U+DC80..U+DCFF). Escape them visibly.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0:
        return "\\x00"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def storable(value: Any) -> Any:
    """A copy of ``value`` (str, or JSON-like containers of them) that PostgreSQL text/jsonb accepts.

    NUL becomes ``\\x00``, a surrogate-escaped byte ``\\xNN``, another lone surrogate ``\\uXXXX``:
    nothing is dropped silently. Anything else is returned unchanged.
    """
    if isinstance(value, str):
        return _UNSTORABLE.sub(_escape_char, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def _text(value: Any, max_length: int | None = None) -> str:
    text = storable("" if value is None else str(value))
    if max_length is not None and len(text) > max_length:
        text = text[: max_length - 1] + "…"  # the full value stays in the evidence and the raw snapshot
    return text


def _field_length(model: type[models.Model], name: str) -> int:
    field = model._meta.get_field(name)
    return int(getattr(field, "max_length", 0) or 0)


# -- starting and cancelling ----------------------------------------------------------------------------


def heartbeat_interval() -> float:
    return float(settings.DOCKERBENCH_HEARTBEAT_SECONDS)


def heartbeat_timeout() -> timedelta:
    """How long a running scan may go without a heartbeat before its worker is taken for dead."""
    return timedelta(seconds=settings.DOCKERBENCH_HEARTBEAT_TIMEOUT_SECONDS)


def resend_after() -> timedelta:
    """How long a queued scan waits for a worker before its message is sent again."""
    return timedelta(seconds=settings.DOCKERBENCH_QUEUED_RESEND_SECONDS)


def queue_scan(host: Host, *, trigger: str, user: Any = None, countdown: float = 0) -> tuple[Scan, bool]:
    """Queue a scan of a host, or return the one already queued or running (one at a time per host).

    Returns (scan, created). The Celery task is sent when the surrounding transaction commits, due ``countdown``
    seconds later (a schedule's window); an existing queued scan that has waited DOCKERBENCH_QUEUED_RESEND_SECONDS
    for a worker has its message sent again.
    """
    active = Scan.objects.filter(host=host, status__in=Scan.ACTIVE_STATUSES).first()
    if active is not None:
        if active.status == Scan.Status.QUEUED and scan_queue(active.trigger) != scan_queue(trigger):
            # Someone asks now for a host whose nightly scan waits (its turn in the window, or a full queue):
            # the same scan goes on their queue at once; the scheduled message finds it taken and does nothing.
            waiting_id = active.pk
            transaction.on_commit(lambda: send_scan(waiting_id, trigger=trigger))
        else:
            _resend_if_waiting(active)
        return active, False
    try:
        with transaction.atomic():
            scan = Scan.objects.create(host=host, trigger=trigger, triggered_by=user, progress={"phase": "queued"})
            record_event(scan, "scan queued", actor=user, changes={"trigger": [None, trigger]})
    except IntegrityError:
        # Another request queued one between our read and our insert: the constraint kept it unique.
        active = Scan.objects.filter(host=host, status__in=Scan.ACTIVE_STATUSES).first()
        if active is None:
            raise
        return active, False
    transaction.on_commit(lambda: send_scan(scan.pk, trigger=trigger, countdown=countdown))
    return scan, True


def start_scan(host: Host, *, trigger: str, user: Any = None, countdown: float = 0) -> Scan:
    """Queue a scan of a host (see queue_scan) and return it."""
    return queue_scan(host, trigger=trigger, user=user, countdown=countdown)[0]


def _resend_if_waiting(scan: Scan) -> None:
    if scan.status != Scan.Status.QUEUED:
        return
    waited_since = scan.sent_at or scan.created
    if waited_since < timezone.now() - resend_after():
        transaction.on_commit(lambda: send_scan(scan.pk, only_if_waiting=True, trigger=scan.trigger))


def scan_queue(trigger: str) -> str:
    """The queue a scan's message goes to: scheduled scans on one, every other trigger (a person, the API) on the
    other, so the worker set aside for the latter is never busy with a night's scans (docs/deployment.md). The
    names are settings so that a test session can have queues of its own."""
    if trigger == Scan.Trigger.SCHEDULE:
        return str(settings.DOCKERBENCH_SCHEDULED_QUEUE)
    return str(settings.DOCKERBENCH_INTERACTIVE_QUEUE)


def send_scan(scan_id: int, *, only_if_waiting: bool = False, trigger: str | None = None, countdown: float = 0) -> bool:
    """Send the scan's task message (now, outside any transaction), on its trigger's queue (scan_queue). Returns
    whether it was sent.

    With ``only_if_waiting``, only when the scan is still queued and its last message is older than
    DOCKERBENCH_QUEUED_RESEND_SECONDS: concurrent callers send it once between them. With ``countdown``, the
    message is due that many seconds from now, and ``sent_at`` records when it is due: the reaper does not take a
    scan spread over a schedule's window, or waiting to retry, for a lost message.
    """
    now = timezone.now()
    waiting = Scan.objects.filter(pk=scan_id, status=Scan.Status.QUEUED)
    if only_if_waiting:
        waiting = waiting.filter(
            Q(sent_at__isnull=True, created__lt=now - resend_after()) | Q(sent_at__lt=now - resend_after())
        )
    if not waiting.update(sent_at=now + timedelta(seconds=countdown), sends=F("sends") + 1):
        return False
    if trigger is None:
        trigger = Scan.objects.filter(pk=scan_id).values_list("trigger", flat=True).first() or ""
    try:
        options: dict[str, Any] = {"queue": scan_queue(trigger)}
        if countdown > 0:
            options["countdown"] = countdown
        current_app.send_task(RUN_SCAN_TASK, args=[scan_id], **options)
    except Exception as exc:  # the broker is down: say so on the scan; the reaper sends it again
        log.warning("could not queue scan %s: %s", scan_id, exc)
        Scan.objects.filter(pk=scan_id, status=Scan.Status.QUEUED).update(
            progress={"phase": "queued", "note": _text(f"waiting for the broker: {exc}", 300)}
        )
        return False
    return True


def cancel_scan(scan: Scan, *, user: Any = None) -> bool:
    """Cancel a queued or running scan. Returns False when it had finished already.

    A running attempt notices at its next heartbeat and stops without recording anything.
    """
    who = user.get_username() if getattr(user, "is_authenticated", False) else "the system"
    with transaction.atomic():
        cancelled = Scan.objects.filter(pk=scan.pk, status__in=Scan.ACTIVE_STATUSES).update(
            status=Scan.Status.CANCELLED,
            finished=timezone.now(),
            error=_text(f"cancelled by {who}"),
            progress={"phase": "cancelled"},
        )
        if cancelled:
            record_event(scan, "scan cancelled", actor=user, changes={"status": [scan.status, "cancelled"]})
    return bool(cancelled)


# -- running ------------------------------------------------------------------------------------------


class ScanNotOwned(Exception):
    """The scan is no longer this attempt's to record (cancelled, reaped, or claimed by another attempt)."""


def claim_scan(scan_id: int, *, worker: str, claim: str = "", retry: bool = False) -> Scan | None:
    """Mark a scan RUNNING for this attempt, or None when it is not ours to run.

    A queued scan is claimed (a new attempt). A running one whose claim is ``claim`` (the same task) is resumed,
    same attempt, when the attempt that holds it has ended: this is Celery's ``retry`` of it after a database
    error (``retry``: not guarded further, since a retry handed out again while it still runs takes a database
    error and then over an hour of one scan), or the broker handing the message again after its holder died
    (holder_gone). A copy of the message while its holder still runs (the broker redelivers a message held longer
    than its visibility timeout) is left alone, so a host is never scanned twice at once; should that holder
    die, the reaper queues the scan again. Anything else (held by another attempt, finished, cancelled) is left
    alone too.
    """
    now = timezone.now()
    name = _text(worker, _field_length(Scan, "worker"))
    holder = {"worker": name, "worker_pid": os.getpid(), "heartbeat": now}
    if claim:
        held = (
            Scan.objects.filter(pk=scan_id, status=Scan.Status.RUNNING, claim=claim)
            .values("worker", "worker_pid", "heartbeat")
            .first()
        )
        if held is not None:
            if not (retry or holder_gone(held, worker=name, now=now)):
                return None
            # Conditional on the holder seen: of two copies that both found it gone, one resumes.
            same_holder = {"worker": held["worker"], "worker_pid": held["worker_pid"]}
            resumed = Scan.objects.filter(pk=scan_id, status=Scan.Status.RUNNING, claim=claim, **same_holder).update(
                **holder
            )
            return Scan.objects.select_related("host").get(pk=scan_id) if resumed else None
    claimed = Scan.objects.filter(pk=scan_id, status=Scan.Status.QUEUED).update(
        **holder,
        status=Scan.Status.RUNNING,
        claim=claim[:64],
        started=now,
        finished=None,
        error="",
        attempts=F("attempts") + 1,
        progress={"phase": "connecting"},
    )
    if not claimed:
        return None
    return Scan.objects.select_related("host").get(pk=scan_id)


def holder_gone(held: Mapping[str, Any], *, worker: str, now: datetime) -> bool:
    """Whether the attempt holding a running scan (its ``worker``, ``worker_pid``, ``heartbeat``) has ended, as
    far as ``worker`` (the one asking, "name@machine") can tell: it is this very process, its heartbeat is
    stale, or it ran on this machine and its process is gone. A live holder on another machine looks alive
    until its heartbeat goes stale."""
    if held["worker_pid"] is None:
        return True
    if held["worker"] == worker and held["worker_pid"] == os.getpid():
        return True
    if held["heartbeat"] is None or held["heartbeat"] < now - heartbeat_timeout():
        return True
    same_machine = "@" in worker and held["worker"].rpartition("@")[2] == worker.rpartition("@")[2]
    return same_machine and not process_alive(held["worker_pid"])


def run_scan(scan_id: int, *, worker: str, claim: str = "", retry: bool = False) -> Scan | None:
    """Claim, collect, evaluate and record one scan. Returns the scan, or None when not claimed.

    A CollectError (engine unreachable) or an unreadable credential fails the scan with that reason; a
    database error is raised again, for the task to retry (the retry resumes this claim); anything else fails
    the scan with a short message and is logged.
    """
    scan = claim_scan(scan_id, worker=worker, claim=claim, retry=retry)
    if scan is None:
        log.info("scan %s is not ours to run (held by another attempt, or finished): nothing to do", scan_id)
        return None
    heartbeat = _Heartbeat(scan)
    try:
        checks = select()
        progress = _ProgressWriter(scan, checks_total=len(checks), heartbeat=heartbeat)
        t0 = time.perf_counter()
        with engine_target(scan.host) as (target, options):
            snapshot = collect_snapshot(target, options, progress=progress.collecting)
        heartbeat.check()
        # The stored vulnerability reports of its images, for 4.4 (and kept in the raw snapshot).
        snapshot = attach_known_reports(scan.host, snapshot)
        t1 = time.perf_counter()
        results: list[Result] = []
        for start in range(0, len(checks), _CHECK_CHUNK):
            results.extend(evaluate(snapshot, checks[start : start + _CHECK_CHUNK]))
            progress.evaluating(min(start + _CHECK_CHUNK, len(checks)))
        timings = {"collect": round(t1 - t0, 4), "evaluate": round(time.perf_counter() - t1, 4)}
        progress.storing()
        record_results(scan, snapshot, results, timings=timings)
    except ScanNotOwned as exc:
        log.warning("%s: its results were not recorded", exc)
    except CollectError as exc:
        _retry_or_fail_unreachable(scan, str(exc))
    except CredentialUnreadable:
        _fail(scan, "a credential of this host is unreadable (the encryption key changed?): enter it again")
    except SoftTimeLimitExceeded:
        _fail(scan, f"the scan took longer than {settings.DOCKERBENCH_SCAN_TIME_LIMIT} s and was stopped")
    except TRANSIENT_ERRORS:
        raise  # the task retries; the retry resumes this claim
    except Exception as exc:
        log.exception("scan %s of host %s failed", scan.pk, scan.host_id)
        _fail(scan, f"internal error: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        heartbeat.stop()
    scan.refresh_from_db()
    return scan


def _retry_or_fail_unreachable(scan: Scan, message: str) -> None:
    """The host did not answer. A scheduled scan is queued again after a backoff (a countdown: no worker slot is
    held while it waits), DOCKERBENCH_UNREACHABLE_RETRIES times; then, as at once for a scan someone is waiting
    for, it fails (the failed-scan notification goes) and the host is marked unreachable."""
    if scan.trigger == Scan.Trigger.SCHEDULE and scan.retries < settings.DOCKERBENCH_UNREACHABLE_RETRIES:
        delay = settings.DOCKERBENCH_UNREACHABLE_BACKOFF_SECONDS * 2**scan.retries
        note = f"the host did not answer ({message}): trying again in {delay:g} s"
        note += f" (retry {scan.retries + 1} of {settings.DOCKERBENCH_UNREACHABLE_RETRIES})"
        if _owned(scan).update(
            status=Scan.Status.QUEUED,
            claim="",
            worker_pid=None,
            heartbeat=None,
            retries=F("retries") + 1,
            progress={"phase": "queued", "note": _text(note, 300)},
        ):
            send_scan(scan.pk, trigger=scan.trigger, countdown=delay)
        return
    # Marked before the failure is announced, so a notification sees it.
    Host.objects.filter(pk=scan.host_id, unreachable_since__isnull=True).update(unreachable_since=timezone.now())
    _fail(scan, f"{message} (tried {scan.retries + 1} times)" if scan.retries else message)


def fail_after_retries(scan_id: int, claim: str, exc: BaseException) -> None:
    """The task gave up retrying a database error: fail the scan if the database lets us (else the reaper will)."""
    Scan.objects.filter(pk=scan_id, status=Scan.Status.RUNNING, claim=claim).update(
        status=Scan.Status.FAILED,
        finished=timezone.now(),
        error=_text(f"the database was unavailable during the scan: {type(exc).__name__}: {exc}", 500),
        progress={"phase": "failed"},
    )


class _Heartbeat:
    """Refreshes Scan.heartbeat from a thread of its own while the scan runs, and notices when the scan is no
    longer this attempt's (cancelled or reaped): ``check()`` then raises ScanNotOwned."""

    def __init__(self, scan: Scan) -> None:
        self.scan = scan
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"scan-{scan.pk}-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(heartbeat_interval()):
                if not self.beat():
                    self.lost.set()
                    return
        except Exception:  # the database is away: the main thread will meet the same error
            log.warning("scan %s: heartbeat failed", self.scan.pk, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def beat(self) -> bool:
        return bool(_owned(self.scan).update(heartbeat=timezone.now()))

    def check(self) -> None:
        if self.lost.is_set():
            raise ScanNotOwned(f"scan {self.scan.pk} was cancelled or taken over")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _owned(scan: Scan) -> Any:
    return Scan.objects.filter(pk=scan.pk, status=Scan.Status.RUNNING, attempts=scan.attempts)


class _ProgressWriter:
    """Writes Scan.progress, at most every PROGRESS_INTERVAL seconds (phase changes always), and stops the scan
    (ScanNotOwned) as soon as it is no longer this attempt's."""

    def __init__(self, scan: Scan, *, checks_total: int, heartbeat: _Heartbeat) -> None:
        self.scan = scan
        self.heartbeat = heartbeat
        self.state: dict[str, Any] = {
            "phase": "collecting",
            "done": 0,
            "total": 0,
            "checks_done": 0,
            "checks_total": checks_total,
        }
        self.last = 0.0
        self._write(force=True)

    def _write(self, *, force: bool = False) -> None:
        self.heartbeat.check()
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        # Only while this attempt owns the scan: a cancelled or reaped scan's progress stays as it was left.
        if not _owned(self.scan).update(progress=dict(self.state), heartbeat=timezone.now()):
            self.heartbeat.lost.set()
            self.heartbeat.check()

    def collecting(self, kind: str, done: int, total: int) -> None:
        self.state.update(done=done, total=total)
        self._write(force=kind == "listed" or done == total)

    def evaluating(self, checks_done: int) -> None:
        forced = self.state["phase"] != "evaluating"
        self.state.update(phase="evaluating", checks_done=checks_done)
        self._write(force=forced)

    def storing(self) -> None:
        self.state.update(phase="storing", checks_done=self.state["checks_total"])
        self._write(force=True)


def _fail(scan: Scan, message: str) -> None:
    failed = _owned(scan).update(
        status=Scan.Status.FAILED,
        error=_text(message),
        finished=timezone.now(),
        progress={**scan.progress, "phase": "failed"} if isinstance(scan.progress, dict) else {"phase": "failed"},
    )
    if failed:
        transaction.on_commit(lambda: _announce(scan, None))


def _announce(scan: Scan, news: tracking.News | None) -> None:
    """Tell the apps above (notifications) that a scan finished; their failures are logged, never raised."""
    scan.refresh_from_db()
    for receiver, outcome in scan_finished.send_robust(sender=Scan, scan=scan, news=news):
        if isinstance(outcome, BaseException):
            log.error("scan_finished receiver %r failed for scan %s: %r", receiver, scan.pk, outcome)


def record_results(
    scan: Scan, snapshot: HostSnapshot, results: list[Result], *, timings: dict[str, float] | None = None
) -> None:
    """Store a finished scan in one transaction: its findings (scans.tracking), diffs, raw snapshot, summary.

    Diff and snapshot rows of an earlier attempt of the same scan are replaced, so a redelivered scan never
    has duplicates; findings are tracked only by the attempt that finishes the scan. Raises ScanNotOwned (and
    writes nothing) when the scan is no longer RUNNING under this attempt. ``timings`` (phase -> seconds,
    from run_scan) are kept in the final progress, with this store's own. Once committed, scan_finished is
    sent with what changed (tracking.News).
    """
    started = time.perf_counter()
    with transaction.atomic():
        locked = Scan.objects.select_for_update().filter(pk=scan.pk).values("status", "attempts").first()
        if not locked or locked["status"] != Scan.Status.RUNNING or locked["attempts"] != scan.attempts:
            raise ScanNotOwned(f"scan {scan.pk} is no longer running under attempt {scan.attempts}")
        DiffSnapshot.objects.filter(scan=scan).delete()
        ScanSnapshot.objects.filter(scan=scan).delete()

        now = timezone.now()
        news = tracking.track(
            TRACKED, host_id=scan.host_id, scan_id=scan.pk, when=now, rows=result_rows(results), first=is_first(scan)
        )
        DiffSnapshot.objects.bulk_create(_diff_rows(scan, snapshot), batch_size=500)
        ScanSnapshot.pack(scan, snapshot.to_json()).save(force_insert=True)

        summary = summarize(results)
        failed = _failed_parts(snapshot)
        scan.summary = storable(
            {
                "checks": summary.checks,
                "by_status": summary.by_status,
                "findings": summary.findings,
                "sections": summary.sections,
                "judged": summary.judged,
                "passed": summary.passed,
                "missing": dict(snapshot.missing),  # part -> why, including parts that do not apply
                "failed_parts": failed,
                "news": news.as_summary(),
            }
        )
        scan.score = summary.score
        scan.warn_count = summary.by_status.get("WARN", 0)
        scan.engine_version = _text(snapshot.engine_version, _field_length(Scan, "engine_version"))
        scan.status = Scan.Status.PARTIAL if failed else Scan.Status.SUCCEEDED
        scan.finished = timezone.now()  # when it was stored; its findings carry the time the store began
        checks_total = len(select())
        scan.progress = {
            "phase": "done",
            "done": len(snapshot.containers or ()) + len(snapshot.images or ()),
            "total": len(snapshot.containers or ()) + len(snapshot.images or ()),
            "checks_done": checks_total,
            "checks_total": checks_total,
            "timings": {**(timings or {}), "store": round(time.perf_counter() - started, 4)},
        }
        scan.save(update_fields=["summary", "score", "warn_count", "engine_version", "status", "finished", "progress"])
        LatestScan.objects.update_or_create(host_id=scan.host_id, defaults={"scan": scan})
        Host.objects.filter(pk=scan.host_id, unreachable_since__isnull=False).update(unreachable_since=None)
        record_host_images(scan.host_id, scan.pk, snapshot)
        waivers.apply_waivers([scan.host_id])
        transaction.on_commit(lambda: _announce(scan, news))


def _failed_parts(snapshot: HostSnapshot) -> list[str]:
    """Parts that could not be collected. Parts that do not apply are not failures: facts nobody
    asked for, and the swarm of an engine that is not a swarm manager."""
    failed = set(snapshot.missing)
    if snapshot.connection.get("facts") == "none":
        failed.discard("facts")
    swarm = (snapshot.info or {}).get("Swarm") or {}
    if snapshot.info is not None and (swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable")):
        failed.discard("swarm")
    return sorted(failed)


TRACKED = tracking.Models(Finding=Finding, Sighting=Sighting, Episode=Episode)


def record_once(host: Host, digest: str, *, busy: Exception, record: Callable[[], Scan]) -> tuple[Scan, bool]:
    """Record a scan no worker collected (pushed by the host, imported from a file) once per (host, digest).

    Returns (scan, created): the scan made before from the same digest, with created False, or the one
    ``record`` makes and stores (it runs in a transaction of its own, and stores nothing if it raises). Raises
    ``busy`` while a scan of the host is queued or running. Races are settled by the database: the unique
    (host, source_digest) and the one-active-scan-per-host constraints.
    """
    existing = Scan.objects.filter(host=host, source_digest=digest).first()
    if existing is not None:
        return existing, False
    if Scan.objects.filter(host=host, status__in=Scan.ACTIVE_STATUSES).exists():
        raise busy
    try:
        with transaction.atomic():
            scan = record()
    except IntegrityError:
        # Another upload won the race: the same digest (that scan is the answer), or a scan of this host started.
        existing = Scan.objects.filter(host=host, source_digest=digest).first()
        if existing is not None:
            return existing, False
        if Scan.objects.filter(host=host, status__in=Scan.ACTIVE_STATUSES).exists():
            raise busy from None
        raise
    scan.refresh_from_db()
    return scan, True


def running_scan(host: Host, *, trigger: str, digest: str, worker: str, phase: str, user: Any = None) -> Scan:
    """A scan made RUNNING under attempt 1, as record_results wants it, for what arrived whole (record_once)."""
    started = timezone.now()
    return Scan.objects.create(
        host=host,
        status=Scan.Status.RUNNING,
        trigger=trigger,
        triggered_by=user if getattr(user, "is_authenticated", False) else None,
        attempts=1,
        started=started,
        heartbeat=started,
        source_digest=digest,
        worker=_text(worker, _field_length(Scan, "worker")),
        progress={"phase": phase},
    )


def is_first(scan: Scan) -> bool:
    """Whether ``scan`` is its host's first with results: its backlog is then not news (tracking.News.first)."""
    return not Scan.objects.filter(host_id=scan.host_id, status__in=Scan.SCORED_STATUSES, pk__lt=scan.pk).exists()


def result_rows(results: list[Result]) -> list[tracking.Row]:
    """The engine's results as the tracker takes them, made storable (lengths, NUL, surrogates)."""
    evidence = storable(_jsonable([r.evidence for r in results]))  # one round trip for all, not one per result
    rows = []
    for seq, r in enumerate(results):
        obj = r.object
        rows.append(
            tracking.Row(
                seq=seq,
                check_id=r.check_id,
                status=r.status.value,
                object_kind=_text(obj.kind if obj else "", 32),
                object_id=_text(obj.id if obj else "", 512),
                object_name=_text(obj.name if obj else "", 512),
                message=_text(r.message),
                evidence=evidence[seq],
            )
        )
    return rows


def _jsonable(value: Any) -> Any:
    # Evidence is built by checks from JSON data, but may hold tuples or sets: make it plain JSON.
    return json.loads(json.dumps(value, default=lambda o: sorted(o) if isinstance(o, set | frozenset) else str(o)))


def _diff_rows(scan: Scan, snapshot: HostSnapshot) -> list[DiffSnapshot]:
    containers = [c for c in snapshot.containers or () if not c.is_probe]
    previous = _previous_changes(scan, [c.id for c in containers])
    rows = []
    for c in containers:
        state = c.inspect.get("State") or {}
        changes = [[d.kind, d.path] for d in c.diff or ()]
        before = previous.get(c.id)
        rows.append(
            DiffSnapshot(
                scan=scan,
                container_id=_text(c.id, 64),
                container_name=_text(c.name, 256),
                image=_text(c.config.get("Image", ""), 512),
                running=c.running,
                read_only=bool(c.host_config.get("ReadonlyRootfs")),
                started_at=_text(state.get("StartedAt", "") if c.running else "", 40),
                labels=storable(c.labels),
                changes=storable(changes),
                new_since_previous=storable(drift.new_since(changes, before)),
                suspicious=storable(drift.suspicious_changes(changes)),
                error=_text(c.errors.get("diff", "")),
            )
        )
    return rows


def _previous_changes(scan: Scan, container_ids: list[str]) -> dict[str, list[list[str]]]:
    """Each container's changes in its newest earlier DiffSnapshot on the same host.

    Two queries, whatever the number of containers: the newest earlier scan of each, then those rows.
    """
    if not container_ids:
        return {}
    earlier = DiffSnapshot.objects.filter(
        scan__host_id=scan.host_id, container_id__in=container_ids, scan_id__lt=scan.pk
    )
    latest = {row["container_id"]: row["last"] for row in earlier.values("container_id").annotate(last=Max("scan_id"))}
    if not latest:
        return {}
    # Both keys as IN lists (a container's rows in another container's newest scan may come too and are
    # dropped here): one OR of a (container, scan) pair per container costs more to build and plan than to read.
    rows = earlier.filter(container_id__in=list(latest), scan_id__in=set(latest.values()))
    # Compare what was stored with what is stored now: both went through storable().
    return {
        cid: [list(ch) for ch in changes]
        for cid, scan_id, changes in rows.values_list("container_id", "scan_id", "changes")
        if latest[cid] == scan_id
    }


def reevaluate(scan: Scan) -> list[Result]:
    """The current checks' results on a scan's stored raw snapshot (nothing is written)."""
    return evaluate(HostSnapshot.from_json(scan.raw.unpack()))


# -- housekeeping -------------------------------------------------------------------------------------


def reap_stale_scans() -> dict[str, int]:
    """Find scans that lost their worker or their message, and put them right. Returns what was done.

    - RUNNING with a heartbeat older than heartbeat_timeout(): the worker died. Queued again (and sent) when it
      has had fewer than MAX_ATTEMPTS attempts, else failed with that reason.
    - QUEUED without a worker for DOCKERBENCH_QUEUED_RESEND_SECONDS: its message is sent again; after
      QUEUED_TOO_LONG it fails.
    """
    now = timezone.now()
    timeout = heartbeat_timeout()
    stale = Scan.objects.filter(status=Scan.Status.RUNNING).filter(
        Q(heartbeat__lt=now - timeout) | Q(heartbeat__isnull=True, started__lt=now - timeout)
    )
    done = {"requeued": 0, "failed": 0, "resent": 0, "expired": 0, "raced": 0}
    for scan in stale.only("pk", "worker", "worker_pid", "attempts", "retries", "heartbeat"):
        outcome = _recover(scan, reason=f"its worker ({_holder(scan)}) stopped answering")
        done[outcome] += 1
    done["expired"] = Scan.objects.filter(status=Scan.Status.QUEUED, created__lt=now - QUEUED_TOO_LONG).update(
        status=Scan.Status.FAILED, finished=now, error="no worker took the scan within a day (is a worker running?)"
    )
    for scan_id in (
        Scan.objects.filter(status=Scan.Status.QUEUED)
        .filter(Q(sent_at__isnull=True, created__lt=now - resend_after()) | Q(sent_at__lt=now - resend_after()))
        .values_list("pk", flat=True)
    ):
        done["resent"] += send_scan(scan_id, only_if_waiting=True)
    done.pop("raced")  # another reaper or the attempt itself got there first: nothing to report
    if any(done.values()):
        log.warning("stale scans: %s", done)
    return done


def reap_scans_of_dead_worker(worker: str) -> int:
    """A worker named ``worker`` has (re)started: its scans whose process is gone died with it. Recover them at
    once instead of waiting for their heartbeat to go stale. Returns how many."""
    mine = Scan.objects.filter(status=Scan.Status.RUNNING, worker=_text(worker, _field_length(Scan, "worker")))
    recovered = 0
    for scan in mine.only("pk", "worker", "worker_pid", "attempts", "retries", "heartbeat"):
        if scan.worker_pid and process_alive(scan.worker_pid):
            continue
        recovered += _recover(scan, reason=f"its worker ({_holder(scan)}) was restarted") != "raced"
    return recovered


def _holder(scan: Scan) -> str:
    return f"{scan.worker or 'unknown'}, pid {scan.worker_pid or '?'}"


def _recover(scan: Scan, *, reason: str) -> str:
    """Queue a dead attempt's scan again, or fail it after MAX_ATTEMPTS. Conditional on the attempt it had."""
    held = Scan.objects.filter(pk=scan.pk, status=Scan.Status.RUNNING, attempts=scan.attempts)
    # Claims after an unreachable host's retries (scans.services._retry_or_fail_unreachable) are not deaths.
    if scan.attempts - scan.retries < MAX_ATTEMPTS:
        if held.update(
            status=Scan.Status.QUEUED,
            claim="",
            worker_pid=None,
            heartbeat=None,
            progress={"phase": "queued", "note": _text(f"trying again: {reason}", 300)},
        ):
            send_scan(scan.pk)
            return "requeued"
        return "raced"
    failed = held.update(
        status=Scan.Status.FAILED,
        finished=timezone.now(),
        error=_text(f"{reason} (killed, out of memory or restarted), on {scan.attempts} attempts"),
        progress={"phase": "failed"},
    )
    return "failed" if failed else "raced"


def rollup_fleet_days(now: datetime | None = None) -> int:
    """Bring the FleetDay rows of today and yesterday (UTC) in step with their scans (beat, idempotent)."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return rollups.rollup(Scan, FleetDay, [today - timedelta(days=1), today])


def prune_snapshots() -> int:
    """Delete raw snapshots and container diffs older than the retention, except those of each host's latest
    scan (the next scan compares its diffs with them). Returns how many raw snapshots went.

    A scan's raw snapshot and its `docker diff` per container are what a year would otherwise grow by
    (bench/README.md); the scans themselves go later, after DOCKERBENCH_SCAN_RETENTION_DAYS (scans.retention).
    """
    cutoff = timezone.now() - timedelta(days=settings.DOCKERBENCH_SNAPSHOT_RETENTION_DAYS)
    latest = LatestScan.objects.values("scan_id")
    # In short batches (core.retention): a month of a large fleet's diffs is never one long DELETE.
    deleted = delete_in_batches(ScanSnapshot.objects.filter(scan__created__lt=cutoff).exclude(scan_id__in=latest))
    delete_in_batches(DiffSnapshot.objects.filter(scan__created__lt=cutoff).exclude(scan_id__in=latest))
    return deleted
