"""Scan workflows: start, run (on a Celery worker), record, reap, schedule, prune.

Safe to run twice: a worker claims a scan with a conditional UPDATE, and only
the attempt that claimed it may record its results (the claim's ``attempts``
number is checked again, under a row lock, in the transaction that writes).
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from dockerbench.collect import CollectError, collect_snapshot
from dockerbench.report import summarize
from dockerbench.results import Result
from dockerbench.runner import evaluate, select
from dockerbench.snapshot import HostSnapshot
from hosts.models import Host
from hosts.services import engine_target, remove_orphaned_credentials
from scans import drift
from scans.models import CheckResult, DiffSnapshot, Scan, ScanSnapshot, Schedule

log = logging.getLogger(__name__)

# Progress is written at most this often while a scan runs (a page polls it every 2 s).
PROGRESS_INTERVAL = 0.3
# Checks are evaluated in chunks of this many so the progress bar moves during evaluation too.
_CHECK_CHUNK = 16
QUEUED_TOO_LONG = timedelta(days=1)
PERIODIC_TASK_PREFIX = "dockerbench schedule #"

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


def _field_length(model: type, name: str) -> int:
    return model._meta.get_field(name).max_length  # type: ignore[attr-defined, no-any-return]


# -- starting -----------------------------------------------------------------------------------------


def start_scan(host: Host, *, trigger: str, user: Any = None) -> Scan:
    """Queue a scan of a host, or return the one already queued or running (one at a time per host).

    The Celery task is sent when the surrounding transaction commits.
    """
    active = Scan.objects.filter(host=host, status__in=Scan.ACTIVE_STATUSES).first()
    if active is not None:
        return active
    try:
        with transaction.atomic():
            scan = Scan.objects.create(host=host, trigger=trigger, triggered_by=user, progress={"phase": "queued"})
    except IntegrityError:
        # Another request queued one between our read and our insert: the constraint kept it unique.
        active = Scan.objects.filter(host=host, status__in=Scan.ACTIVE_STATUSES).first()
        if active is None:
            raise
        return active
    transaction.on_commit(lambda: _enqueue(scan.pk))
    return scan


def _enqueue(scan_id: int) -> None:
    from scans.tasks import run_scan  # the tasks module imports this one

    try:
        run_scan.delay(scan_id)
    except Exception as exc:  # the broker is down: say so on the scan rather than leave it queued for a day
        log.exception("could not queue scan %s", scan_id)
        Scan.objects.filter(pk=scan_id, status=Scan.Status.QUEUED).update(
            status=Scan.Status.FAILED, error=_text(f"could not queue the scan: {exc}"), finished=timezone.now()
        )


# -- running ------------------------------------------------------------------------------------------


def claim_scan(scan_id: int, *, worker: str) -> Scan | None:
    """Mark a scan RUNNING for this worker, or None when it is not ours to run.

    A queued scan is claimed; so is a RUNNING one whose start is older than the
    scan time limit (its worker died and the broker redelivered the message).
    Anything else (running elsewhere, finished) is left alone.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.DOCKERBENCH_SCAN_TIME_LIMIT)
    claimable = Q(status=Scan.Status.QUEUED) | Q(status=Scan.Status.RUNNING, started__lt=stale)
    claimed = Scan.objects.filter(claimable, pk=scan_id).update(
        status=Scan.Status.RUNNING,
        started=now,
        finished=None,
        error="",
        worker=_text(worker, _field_length(Scan, "worker")),
        attempts=F("attempts") + 1,
        progress={"phase": "connecting"},
    )
    if not claimed:
        return None
    return Scan.objects.select_related("host").get(pk=scan_id)


def run_scan(scan_id: int, *, worker: str) -> Scan | None:
    """Claim, collect, evaluate and record one scan. Returns the scan, or None when not claimed.

    A CollectError (engine unreachable) fails the scan with the engine's message;
    any other error fails it with a short message and is logged.
    """
    scan = claim_scan(scan_id, worker=worker)
    if scan is None:
        log.info("scan %s is not queued (running elsewhere or finished): nothing to do", scan_id)
        return None
    try:
        checks = select()
        progress = _ProgressWriter(scan, checks_total=len(checks))
        t0 = time.perf_counter()
        with engine_target(scan.host) as (target, options):
            snapshot = collect_snapshot(target, options, progress=progress.collecting)
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
        _fail(scan, str(exc))
    except SoftTimeLimitExceeded:
        _fail(scan, f"the scan took longer than {settings.DOCKERBENCH_SCAN_TIME_LIMIT} s and was stopped")
    except Exception as exc:
        log.exception("scan %s of host %s failed", scan.pk, scan.host_id)
        _fail(scan, f"internal error: {type(exc).__name__}: {str(exc)[:300]}")
    scan.refresh_from_db()
    return scan


class _ProgressWriter:
    """Writes Scan.progress, at most every PROGRESS_INTERVAL seconds (phase changes always)."""

    def __init__(self, scan: Scan, *, checks_total: int) -> None:
        self.scan = scan
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
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        # Only while this attempt owns the scan: a reaped scan's progress stays as the reaper left it.
        Scan.objects.filter(pk=self.scan.pk, status=Scan.Status.RUNNING, attempts=self.scan.attempts).update(
            progress=dict(self.state)
        )

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
    Scan.objects.filter(pk=scan.pk, status=Scan.Status.RUNNING, attempts=scan.attempts).update(
        status=Scan.Status.FAILED,
        error=_text(message),
        finished=timezone.now(),
        progress={**scan.progress, "phase": "failed"} if isinstance(scan.progress, dict) else {"phase": "failed"},
    )


class ScanNotOwned(Exception):
    """The scan is no longer this attempt's to record (reaped, or claimed again after its worker died)."""


def record_results(
    scan: Scan, snapshot: HostSnapshot, results: list[Result], *, timings: dict[str, float] | None = None
) -> None:
    """Store a finished scan in one transaction: results, diffs, raw snapshot, summary, status.

    Rows of an earlier attempt of the same scan are replaced, so a redelivered
    scan never has duplicates. Raises ScanNotOwned (and writes nothing) when
    the scan is no longer RUNNING under this attempt. ``timings`` (phase ->
    seconds, from run_scan) are kept in the final progress, with this store's own.
    """
    started = time.perf_counter()
    with transaction.atomic():
        locked = Scan.objects.select_for_update().filter(pk=scan.pk).values("status", "attempts").first()
        if not locked or locked["status"] != Scan.Status.RUNNING or locked["attempts"] != scan.attempts:
            raise ScanNotOwned(f"scan {scan.pk} is no longer running under attempt {scan.attempts}")
        CheckResult.objects.filter(scan=scan).delete()
        DiffSnapshot.objects.filter(scan=scan).delete()
        ScanSnapshot.objects.filter(scan=scan).delete()

        CheckResult.objects.bulk_create(_check_rows(scan, results), batch_size=500)
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
            }
        )
        scan.score = summary.score
        scan.warn_count = summary.by_status.get("WARN", 0)
        scan.engine_version = _text(snapshot.engine_version, _field_length(Scan, "engine_version"))
        scan.status = Scan.Status.PARTIAL if failed else Scan.Status.SUCCEEDED
        scan.finished = timezone.now()
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
        Host.objects.filter(pk=scan.host_id).update(latest_scan=scan)


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


def _check_rows(scan: Scan, results: list[Result]) -> list[CheckResult]:
    evidence = storable(_jsonable([r.evidence for r in results]))  # one round trip for all, not one per result
    rows = []
    for seq, r in enumerate(results):
        obj = r.object
        rows.append(
            CheckResult(
                scan=scan,
                seq=seq,
                check_id=r.check_id,
                section=r.check_id.split(".", 1)[0],
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


def reap_stale_scans() -> int:
    """Fail scans whose worker died (RUNNING past the time limit) or that no worker took (QUEUED a day).

    Returns how many scans were failed.
    """
    now = timezone.now()
    limit = settings.DOCKERBENCH_SCAN_TIME_LIMIT
    running = Scan.objects.filter(status=Scan.Status.RUNNING, started__lt=now - timedelta(seconds=limit)).update(
        status=Scan.Status.FAILED,
        finished=now,
        error=f"the worker stopped before finishing (no result after {limit} s)",
    )
    queued = Scan.objects.filter(status=Scan.Status.QUEUED, created__lt=now - QUEUED_TOO_LONG).update(
        status=Scan.Status.FAILED, finished=now, error="no worker picked the scan up within a day"
    )
    remove_orphaned_credentials()  # a worker killed mid-scan could not remove its decrypted keys
    if running or queued:
        log.warning("reaped %d stale running and %d stale queued scans", running, queued)
    return running + queued


def prune_snapshots() -> int:
    """Delete raw snapshots older than the retention, except each host's latest. Returns the count."""
    cutoff = timezone.now() - timedelta(days=settings.DOCKERBENCH_SNAPSHOT_RETENTION_DAYS)
    latest = Host.objects.filter(latest_scan__isnull=False).values("latest_scan")
    deleted, _ = ScanSnapshot.objects.filter(scan__created__lt=cutoff).exclude(scan_id__in=latest).delete()
    return deleted


# -- schedules ----------------------------------------------------------------------------------------


@transaction.atomic
def sync_schedule(schedule: Schedule) -> PeriodicTask:
    """Create or update the schedule's PeriodicTask (crontab in the server's time zone); paused when disabled."""
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=schedule.minute,
        hour=schedule.hour,
        day_of_week=schedule.day_of_week,
        day_of_month=schedule.day_of_month,
        month_of_year=schedule.month_of_year,
        timezone=settings.TIME_ZONE,
    )
    fields = {
        "name": f"{PERIODIC_TASK_PREFIX}{schedule.pk}: {schedule.name}"[:200],
        "task": "scans.tasks.run_schedule",
        "args": json.dumps([schedule.pk]),
        "crontab": crontab,
        "interval": None,
        "enabled": schedule.enabled,
        "description": f"Scans {schedule.host or 'tag ' + str(schedule.tag)} ({schedule.crontab_text})"[:1000],
    }
    task = PeriodicTask.objects.filter(pk=schedule.periodic_task_id).first() if schedule.periodic_task_id else None
    if task is None:
        task = PeriodicTask.objects.create(**fields)
        Schedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task
    else:
        for name, value in fields.items():
            setattr(task, name, value)
        task.save()
    return task


@transaction.atomic
def delete_schedule(schedule: Schedule) -> None:
    """Delete a schedule and its PeriodicTask, so beat stops running it."""
    task_id = schedule.periodic_task_id
    schedule.delete()
    if task_id:
        PeriodicTask.objects.filter(pk=task_id).delete()


def run_schedule(schedule_id: int) -> list[Scan]:
    """Queue a scan (trigger SCHEDULE) for each enabled host the schedule targets; hosts busy scanning are skipped.

    Returns the scans queued.
    """
    schedule = Schedule.objects.filter(pk=schedule_id, enabled=True).first()
    if schedule is None:
        return []
    started = []
    busy = set(Scan.objects.filter(status__in=Scan.ACTIVE_STATUSES).values_list("host_id", flat=True))
    for host in schedule.target_hosts():
        if host.pk in busy:
            continue
        scan = start_scan(host, trigger=Scan.Trigger.SCHEDULE)
        if scan.trigger == Scan.Trigger.SCHEDULE and scan.status == Scan.Status.QUEUED:
            started.append(scan)
    return started
