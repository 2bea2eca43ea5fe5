"""Celery tasks of the reports app: thin wrappers that take ids and call one service (reports/services.py)."""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings

from reports import services

# The soft limit lets the service fail the report saying it took too long; the hard one ends a stuck render.
LIMIT = settings.DOCKERBENCH_REPORT_TIME_LIMIT


@shared_task(
    name=services.MAKE_REPORT_TASK,
    acks_late=True,
    soft_time_limit=LIMIT,
    time_limit=LIMIT + services.HARD_LIMIT_GRACE,
)
def make_report(report_id: int) -> None:
    # Safe twice: the service claims the report with a conditional UPDATE.
    services.make_report(report_id)


@shared_task(
    bind=True,
    name=services.RUN_SCHEDULE_TASK,
    acks_late=True,
    soft_time_limit=LIMIT,
    time_limit=LIMIT + services.HARD_LIMIT_GRACE,
)
def run_schedule(self: Task, schedule_id: int) -> None:
    # The message's id names the run: delivered again, it finds the same report and mails it once.
    services.run_schedule(schedule_id, run_key=self.request.id or "")


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def prune_reports() -> dict[str, int]:
    return services.prune_reports()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def reap_reports() -> dict[str, int]:
    return services.reap_reports()
