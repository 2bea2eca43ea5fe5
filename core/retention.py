"""Retention: delete old rows in short batches, and the audit trail's own rule.

Every pruning job (scans, reports, the audit trail) deletes through ``delete_in_batches``: it selects at most
DOCKERBENCH_PRUNE_BATCH_SIZE primary keys, deletes those rows by key, and commits, again and again. Each
transaction holds row locks on one batch only (never a table lock), so the pages reading those tables, and
the scans writing them, wait at most one short batch; a run cut off halfway has committed what it did, and
the next run carries on from there (every rule is a plain filter, so running it twice is harmless).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from auditlog.models import LogEntry
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


def delete_in_batches(queryset: models.QuerySet[Any], batch_size: int | None = None) -> int:
    """Delete the rows of ``queryset`` (and what cascades from them) in batches; returns how many of its rows.

    Rows newly matching while it runs are deleted too, and it stops at the first short batch.
    """
    size = max(1, batch_size or settings.DOCKERBENCH_PRUNE_BATCH_SIZE)
    model = queryset.model
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:size])
            if ids:
                _, per_model = model._base_manager.filter(pk__in=ids).delete()
                deleted += per_model.get(model._meta.label, 0)
        if len(ids) < size:
            return deleted


def cutoff(days: int, now: datetime | None = None) -> datetime | None:
    """The moment before which a rule of ``days`` prunes; None when days is 0 or less (keep forever)."""
    if days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def prune_audit_entries(now: datetime | None = None) -> int:
    """Beat, daily: delete the audit entries older than DOCKERBENCH_AUDIT_RETENTION_DAYS (0 keeps them all).

    The entries are django-auditlog's LogEntry rows: changes, logins, failed logins and events alike (they keep
    the object's text, not a key, so nothing else refers to them). Returns how many went.
    """
    before = cutoff(settings.DOCKERBENCH_AUDIT_RETENTION_DAYS, now)
    if before is None:
        return 0
    return delete_in_batches(LogEntry.objects.filter(timestamp__lt=before))
