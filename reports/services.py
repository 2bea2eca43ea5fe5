"""Report workflows: ask for a report, make it on a worker, keep beat in step with the schedules, run a schedule
(make its report and mail it), and prune what retention no longer keeps.

- ``request_report`` stores a QUEUED report and sends its task once the row is committed.
- ``make_report`` claims a QUEUED report with a conditional UPDATE (a message delivered twice makes one PDF),
  renders it with reports.documents while writing the renderer's progress on the row, and stores the file.
  Whatever happens, the report ends DONE or FAILED with a reason; ``reap_reports`` fails one whose worker died.
- ``run_schedule`` makes a schedule's report and mails it through the schedule's email channel as a
  notifications Delivery, with the delivery log, retries and dedupe every other notice has.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core.beat import drop_periodic_task, sync_periodic_task
from core.retention import delete_in_batches
from notifications.models import Delivery, Event
from notifications.services import Notice, dashboard_url, one_line, queue_delivery
from reports.documents import Rendered, ReportRequest, ReportTooLarge, render_report
from reports.models import Report, ReportSchedule

log = logging.getLogger(__name__)

# By name: the tasks module imports this one. Stored in beat's PeriodicTask rows, so part of the data.
MAKE_REPORT_TASK = "reports.tasks.make_report"
RUN_SCHEDULE_TASK = "reports.tasks.run_schedule"
PERIODIC_TASK_PREFIX = "dockerbench report schedule #"
STORAGE_FOLDER = "reports"
# Seconds between the soft time limit and the hard one, when the worker process is killed.
HARD_LIMIT_GRACE = 30
# A report queued this long without a worker taking it lost its message (broker down at commit): sent again.
RESEND_QUEUED_AFTER = timedelta(minutes=10)
# A file under reports/ that no report names is removed once this old: younger, its row may be on its way.
ORPHAN_AFTER = timedelta(days=1)
# The renderer may report progress per host; the row is written at most this often (and on every new phase).
PROGRESS_EVERY_SECONDS = 0.5


# -- asking for a report -------------------------------------------------------------------------------


def request_report(params: dict[str, Any], user: Any = None) -> Report:
    """A QUEUED report of ``params`` (a ReportRequest's params; ValueError when they do not parse), asked by
    ``user``; its task is sent once the row is committed."""
    wanted = ReportRequest.from_params(params)
    report = Report.objects.create(
        kind=wanted.kind,
        params=wanted.params(),
        title=wanted.title()[:300],
        requested_by=user if getattr(user, "is_authenticated", False) else None,
    )
    transaction.on_commit(lambda: send_report(report.pk))
    return report


def send_report(report_id: int) -> bool:
    """Send the report's task message; a broker that is down is logged (the reaper sends it again later)."""
    try:
        current_app.send_task(MAKE_REPORT_TASK, args=[report_id])
    except Exception as exc:  # never up to the page that asked
        log.warning("could not queue report %s: %s", report_id, exc)
        return False
    return True


def delete_report(report: Report) -> None:
    """Delete a report and its file. A worker still making it finds the row gone and drops what it made."""
    name = report.file.name
    report.delete()
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


# -- making it -----------------------------------------------------------------------------------------


class _ProgressWriter:
    """The renderer's progress callback: writes {phase, done, total} on the report, not more often than
    PROGRESS_EVERY_SECONDS unless the phase changes, so a renderer that reports per host stays cheap."""

    def __init__(self, report_id: int) -> None:
        self.report_id = report_id
        self.last_phase = ""
        self.last_write = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase == self.last_phase and now - self.last_write < PROGRESS_EVERY_SECONDS and done < total:
            return
        self.last_phase, self.last_write = phase, now
        progress = {"phase": str(phase)[:100], "done": int(done), "total": int(total)}
        Report.objects.filter(pk=self.report_id, status=Report.Status.RUNNING).update(progress=progress)


def claim_report(report_id: int) -> Report | None:
    """Take a QUEUED report for this attempt (RUNNING); None when another attempt has it or it is finished."""
    claimed = Report.objects.filter(pk=report_id, status=Report.Status.QUEUED).update(
        status=Report.Status.RUNNING, started=timezone.now(), progress={"phase": "starting", "done": 0, "total": 0}
    )
    if not claimed:
        return None
    return Report.objects.select_related("requested_by", "schedule").get(pk=report_id)


def make_report(report_id: int) -> Report | None:
    """Claim, render and store one report. Returns it finished, or None when it was not ours to make.

    A request the renderer refuses (ReportTooLarge, or parameters that make no sense: ValueError) fails the
    report with the renderer's own words; the Celery soft time limit fails it saying it took too long; any
    other error fails it with a short message and is logged. It never stays RUNNING because of an exception.
    """
    report = claim_report(report_id)
    if report is None:
        log.info("report %s is not ours to make (another attempt has it, or it is finished)", report_id)
        return None
    try:
        wanted = ReportRequest.from_params(report.params)
        rendered = render_report(wanted, made_by=_made_by(report), progress=_ProgressWriter(report.pk))
        _store(report, rendered)
    except (ReportTooLarge, ValueError) as exc:
        _fail(report.pk, str(exc) or type(exc).__name__)
    except SoftTimeLimitExceeded:
        _fail(report.pk, f"the report took longer than {settings.DOCKERBENCH_REPORT_TIME_LIMIT} s and was stopped")
    except Exception as exc:
        log.exception("report %s failed", report.pk)
        _fail(report.pk, f"internal error: {type(exc).__name__}: {str(exc)[:300]}")
    return Report.objects.filter(pk=report.pk).first()


def _made_by(report: Report) -> str:
    if report.requested_by is not None:
        return report.requested_by.get_username()
    if report.schedule is not None:
        return f"schedule {report.schedule.name}"
    return ""


def _store(report: Report, rendered: Rendered) -> None:
    # The name is ours (the storage adds a suffix if it is taken); the file goes first, then the row says so.
    name = default_storage.save(
        f"{STORAGE_FOLDER}/{timezone.now():%Y/%m}/report-{report.pk}.pdf", ContentFile(rendered.pdf)
    )
    try:
        stored = Report.objects.filter(pk=report.pk, status=Report.Status.RUNNING).update(
            status=Report.Status.DONE,
            file=name,
            size=len(rendered.pdf),
            pages=rendered.pages,
            scan_ids=list(rendered.scan_ids),
            title=(rendered.title or report.title)[:300],
            finished=timezone.now(),
            progress={"phase": "done", "done": 1, "total": 1},
            error="",
        )
    except BaseException:
        default_storage.delete(name)
        raise
    if not stored:  # deleted (or reaped) while it rendered: nobody will ever name this file
        default_storage.delete(name)


def _fail(report_id: int, reason: str) -> None:
    def mark() -> None:
        Report.objects.filter(pk=report_id, status=Report.Status.RUNNING).update(
            status=Report.Status.FAILED, error=reason[:2000], finished=timezone.now(), progress={"phase": "failed"}
        )

    try:
        mark()
    except DatabaseError:
        if connection.in_atomic_block:
            raise
        # The time limit can interrupt a query and leave the connection unusable: a new one records the failure.
        connection.close()
        mark()


def reap_reports(now: datetime | None = None) -> dict[str, int]:
    """Beat: fail the reports whose worker died (RUNNING past the hard time limit), and send again the task of
    those queued so long their message must be lost (the claim makes a duplicate harmless)."""
    now = now or timezone.now()
    limit = timedelta(seconds=settings.DOCKERBENCH_REPORT_TIME_LIMIT + HARD_LIMIT_GRACE + 60)
    died = Report.objects.filter(status=Report.Status.RUNNING, started__lt=now - limit).update(
        status=Report.Status.FAILED,
        error="the worker stopped while making it (killed, or past the hard time limit); ask for it again",
        finished=now,
        progress={"phase": "failed"},
    )
    waiting = Report.objects.filter(status=Report.Status.QUEUED, created__lt=now - RESEND_QUEUED_AFTER)
    resent = sum(send_report(pk) for pk in list(waiting.values_list("pk", flat=True)[:100]))
    return {"failed": died, "resent": resent}


# -- retention -----------------------------------------------------------------------------------------


def prune_reports(now: datetime | None = None) -> dict[str, int]:
    """Beat, daily: delete the reports older than DOCKERBENCH_REPORT_RETENTION_DAYS and their files, and the
    files under reports/ that no report names (a row deleted while its file was being written, say).

    Returns how many reports and how many files without a report were deleted.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.DOCKERBENCH_REPORT_RETENTION_DAYS)
    old = Report.objects.filter(created__lt=cutoff)
    names = list(old.exclude(file="").values_list("file", flat=True))
    deleted = delete_in_batches(old)  # short transactions, as the scans' and the audit trail's pruning
    for name in names:
        default_storage.delete(name)
    return {"reports": deleted, "orphans": _delete_orphans(now)}


def _delete_orphans(now: datetime) -> int:
    named = set(Report.objects.exclude(file="").values_list("file", flat=True))
    # A scheduled report's delivery names its file too, until the report goes.
    named |= set(Delivery.objects.exclude(attachment="").values_list("attachment", flat=True))
    removed = 0
    for name in _stored_files(STORAGE_FOLDER):
        if name in named:
            continue
        try:
            modified = default_storage.get_modified_time(name)
        except (FileNotFoundError, NotImplementedError):
            continue
        if modified < now - ORPHAN_AFTER:
            default_storage.delete(name)
            removed += 1
    return removed


def _stored_files(folder: str) -> list[str]:
    if not default_storage.exists(folder):
        return []
    folders, files = default_storage.listdir(folder)
    found = [f"{folder}/{name}" for name in files]
    for sub in folders:
        found.extend(_stored_files(f"{folder}/{sub}"))
    return found


# -- schedules -----------------------------------------------------------------------------------------


def sync_schedule(schedule: ReportSchedule) -> PeriodicTask:
    """Create or update the schedule's PeriodicTask (its crontab in the server's time zone); paused when the
    schedule is disabled."""
    return sync_periodic_task(
        schedule,
        name=f"{PERIODIC_TASK_PREFIX}{schedule.pk}: {schedule.name}",
        task=RUN_SCHEDULE_TASK,
        crontab=schedule.crontab_fields(),
        enabled=schedule.enabled,
        description=f"Mails a report of {schedule.scope_text} ({schedule.crontab})",
    )


@transaction.atomic
def save_schedule(schedule: ReportSchedule) -> ReportSchedule:
    """Save a report schedule (new or changed) and its beat task together."""
    schedule.save()
    sync_schedule(schedule)
    return schedule


@transaction.atomic
def delete_schedule(schedule: ReportSchedule) -> None:
    """Delete a report schedule; its PeriodicTask goes with it (schedule_deleted). Its reports are kept."""
    schedule.delete()


def schedule_deleted(sender: Any, instance: ReportSchedule, **kwargs: Any) -> None:
    """post_delete of a ReportSchedule, however it went (alone, or with its tag): drop its beat task."""
    drop_periodic_task(instance)


def run_schedule(schedule_id: int, *, run_key: str = "") -> Report | None:
    """Make the schedule's report of the ``period_days`` days up to today (UTC) on this worker,
    then mail it. Returns the report (None when the schedule is gone or paused).

    ``run_key`` names the run (the task passes its message's id): the same message delivered again finds
    its report, and the delivery's dedupe key makes the mail go once.
    """
    schedule = ReportSchedule.objects.select_related("tag", "channel").filter(pk=schedule_id, enabled=True).first()
    if schedule is None:
        return None
    run_key = run_key or uuid.uuid4().hex
    wanted = schedule.report_request(timezone.now().astimezone(UTC).date())  # reports count in UTC days
    try:
        with transaction.atomic():
            report, _ = Report.objects.get_or_create(
                schedule=schedule,
                run_key=run_key[:100],
                defaults={"kind": wanted.kind, "params": wanted.params(), "title": wanted.title()[:300]},
            )
    except IntegrityError:  # the other copy of the message made it a moment ago
        report = Report.objects.get(schedule=schedule, run_key=run_key[:100])
    if report.status == Report.Status.QUEUED:
        make_report(report.pk)
    report.refresh_from_db()
    if report.status == Report.Status.DONE:
        mail_report(report, schedule)
    elif report.status == Report.Status.FAILED:
        log.warning("report schedule %s: report %s failed: %s", schedule.pk, report.pk, report.error)
    return report


def mail_report(report: Report, schedule: ReportSchedule) -> Delivery | None:
    """A delivery of the report's PDF to the schedule's addresses through its email channel (None when it has
    no channel any more, or was mailed already)."""
    if schedule.channel is None:
        log.warning("report schedule %s has no channel: report %s was made, not mailed", schedule.pk, report.pk)
        return None
    pages = f"{report.pages} page{'s' if report.pages != 1 else ''}" if report.pages else "the PDF"
    lines = [
        f"{one_line(report.title)}: {pages}, attached as {report.download_name}.",
        f"Made by the report schedule {one_line(schedule.name)} ({schedule.scope_text},"
        f" the last {schedule.period_days} day{'s' if schedule.period_days != 1 else ''}).",
    ]
    notice = Notice(
        Event.REPORT,
        one_line(f"{report.title} ({schedule.name})"),
        lines,
        {"report": {"id": report.pk, "title": report.title, "pages": report.pages, "size": report.size}},
        dashboard_url("reports:report", report.pk),
    )
    return queue_delivery(
        schedule.channel,
        notice,
        f"report:{report.pk}",
        recipients=schedule.recipient_list,
        attachment=report.file.name,
        attachment_name=report.download_name,
    )
