"""Celery tasks of the core app: thin wrappers around one service each."""

from __future__ import annotations

from celery import shared_task

from core import retention


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1860)
def prune_audit_entries() -> int:
    # Idempotent: a filter on age, deleted in committed batches; a run cut off is finished by the next.
    return retention.prune_audit_entries()
