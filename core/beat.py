"""One crontab PeriodicTask per schedule row: the django-celery-beat bookkeeping the schedule apps share."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask


@transaction.atomic
def sync_periodic_task(
    owner: models.Model,
    *,
    name: str,
    task: str,
    crontab: dict[str, str],
    enabled: bool,
    description: str,
) -> PeriodicTask:
    """Create or update the PeriodicTask of ``owner`` (a row with a ``periodic_task`` foreign key) that runs
    ``task`` with the owner's id on ``crontab`` (minute, hour, day_of_month, month_of_year, day_of_week) in the
    server's time zone; paused when not ``enabled``. The owner's foreign key is set on a first sync."""
    schedule, _ = CrontabSchedule.objects.get_or_create(**crontab, timezone=settings.TIME_ZONE)
    fields: dict[str, Any] = {
        "name": name[:200],
        "task": task,
        "args": json.dumps([owner.pk]),
        "crontab": schedule,
        "interval": None,
        "enabled": enabled,
        "description": description[:1000],
    }
    task_id = owner.periodic_task_id  # type: ignore[attr-defined]
    periodic = PeriodicTask.objects.filter(pk=task_id).first() if task_id else None
    if periodic is None:
        periodic = PeriodicTask.objects.create(**fields)
        type(owner)._default_manager.filter(pk=owner.pk).update(periodic_task=periodic)
        owner.periodic_task = periodic  # type: ignore[attr-defined]
    else:
        for field, value in fields.items():
            setattr(periodic, field, value)
        periodic.save()
    return periodic


def drop_periodic_task(owner: models.Model) -> None:
    """Delete the owner's PeriodicTask, if it has one (from a post_delete receiver: however the row went)."""
    task_id = owner.periodic_task_id  # type: ignore[attr-defined]
    if task_id:
        PeriodicTask.objects.filter(pk=task_id).delete()
