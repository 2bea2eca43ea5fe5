"""Celery tasks: thin wrappers that take ids and call one service (scans/services.py)."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from django import db
from django.conf import settings

from scans import retention, services, waivers

# The soft limit lets the service record "took too long"; the hard one ends a scan stuck in I/O.
HARD_LIMIT_GRACE = 30


class _ScanTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Only a database error gets here (the service records every other failure): retries are used up.
        if args:
            services.fail_after_retries(int(args[0]), task_id, exc)


@shared_task(
    bind=True,
    base=_ScanTask,
    name=services.RUN_SCAN_TASK,
    acks_late=True,
    soft_time_limit=settings.DOCKERBENCH_SCAN_TIME_LIMIT,
    time_limit=settings.DOCKERBENCH_SCAN_TIME_LIMIT + HARD_LIMIT_GRACE,
    autoretry_for=services.TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=30,
    max_retries=5,
)
def run_scan(self: Task, scan_id: int) -> None:
    # The task id survives retries: the retry resumes the claim this id holds.
    retry = bool(self.request.retries)
    services.run_scan(scan_id, worker=self.request.hostname or "", claim=self.request.id or "", retry=retry)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def reap_stale_scans() -> dict[str, int]:
    return services.reap_stale_scans()


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def prune_snapshots() -> int:
    return services.prune_snapshots()


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1860)
def prune_scans() -> dict[str, int]:
    # Idempotent: filters on age, deleted in committed batches; a run cut off is finished by the next.
    return retention.prune_scans()


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def rollup_fleet_days() -> int:
    return services.rollup_fleet_days()


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def apply_waivers() -> int:
    # Idempotent: an expired waiver stops applying here, and the findings it covered are WARN again.
    return waivers.expire_waivers()


@worker_ready.connect
def _recover_own_scans(sender: Any = None, **kwargs: Any) -> None:
    # A worker that starts again under the same name finds the scans its dead processes held, at once.
    hostname = getattr(sender, "hostname", "") or ""
    if hostname:
        try:
            services.reap_scans_of_dead_worker(hostname)
        finally:
            db.connections.close_all()  # the main process keeps no connection for the pool to share
