"""Audit trail retention and the batched delete every pruning job goes through (core.retention)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import retention, tasks
from core.audit import record_event

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def _entries(user: User, ages: list[int]) -> list[LogEntry]:
    entries = [record_event(user, f"event {age}", actor=user) for age in ages]
    for entry, age in zip(entries, ages, strict=True):
        LogEntry.objects.filter(pk=entry.pk).update(timestamp=timezone.now() - age * DAY)
    return entries


def test_entries_older_than_the_rule_go_and_newer_stay(settings) -> None:
    settings.DOCKERBENCH_AUDIT_RETENTION_DAYS = 365
    user = User.objects.create_user("ada")
    LogEntry.objects.all().delete()
    old = _entries(user, [900, 400, 366])
    new = _entries(user, [364, 10, 0])

    assert tasks.prune_audit_entries() == len(old)

    assert set(LogEntry.objects.values_list("pk", flat=True)) == {e.pk for e in new}
    assert retention.prune_audit_entries() == 0  # idempotent


def test_zero_keeps_every_entry(settings) -> None:
    settings.DOCKERBENCH_AUDIT_RETENTION_DAYS = 0
    user = User.objects.create_user("ada")
    _entries(user, [5000])
    count = LogEntry.objects.count()

    assert retention.prune_audit_entries() == 0
    assert LogEntry.objects.count() == count


def test_entries_are_deleted_in_short_batches_by_id(settings) -> None:
    settings.DOCKERBENCH_AUDIT_RETENTION_DAYS = 30
    settings.DOCKERBENCH_PRUNE_BATCH_SIZE = 4
    user = User.objects.create_user("ada")
    LogEntry.objects.all().delete()
    _entries(user, [40] * 10)

    with CaptureQueriesContext(connection) as queries:
        assert retention.prune_audit_entries() == 10

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 4 + 4 + 2, each in its own transaction
    assert all('DELETE FROM "auditlog_logentry" WHERE "auditlog_logentry"."id" IN (' in sql for sql in deletes)
    assert [sql.split(" IN (", 1)[1].count(",") + 1 for sql in deletes] == [4, 4, 2]
    assert sum(q["sql"].startswith("SAVEPOINT") or q["sql"] == "BEGIN" for q in queries.captured_queries) >= 3
    assert not [q for q in queries.captured_queries if "LOCK TABLE" in q["sql"].upper()]


def test_delete_in_batches_stops_on_an_empty_queryset() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert retention.delete_in_batches(LogEntry.objects.none()) == 0
    assert not [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
