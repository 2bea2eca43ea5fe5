"""Celery tasks: thin wrappers that take ids and call one service (scans/services.py)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from scans import services

# The database being briefly unreachable is the one failure worth retrying; every other
# failure is recorded on the scan by the service. Retrying is safe: the claim is conditional.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
# The soft limit lets the service record "took too long"; the hard one ends a scan stuck in I/O.
HARD_LIMIT_GRACE = 30


@shared_task(
    bind=True,
    acks_late=True,
    soft_time_limit=settings.DOCKERBENCH_SCAN_TIME_LIMIT,
    time_limit=settings.DOCKERBENCH_SCAN_TIME_LIMIT + HARD_LIMIT_GRACE,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    max_retries=3,
)
def run_scan(self, scan_id: int) -> None:  # type: ignore[no-untyped-def]
    services.run_scan(scan_id, worker=self.request.hostname or "")


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150, autoretry_for=TRANSIENT_ERRORS, max_retries=3)
def run_schedule(schedule_id: int) -> None:
    services.run_schedule(schedule_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def reap_stale_scans() -> int:
    return services.reap_stale_scans()


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def prune_snapshots() -> int:
    return services.prune_snapshots()
