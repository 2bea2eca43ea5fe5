"""Schedule workflows: keep beat's PeriodicTask in step, run a schedule, give every new host its nightly scan."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django_celery_beat.models import PeriodicTask

from core.beat import drop_periodic_task, sync_periodic_task
from hosts.models import Host
from scans.models import Scan
from scans.services import start_scan
from schedules.models import Schedule

log = logging.getLogger(__name__)

PERIODIC_TASK_PREFIX = "dockerbench schedule #"
# By name: the tasks module imports this one. Stored in beat's PeriodicTask rows, so it is part of the data.
RUN_SCHEDULE_TASK = "schedules.tasks.run_schedule"
DEFAULT_MINUTE, DEFAULT_HOUR = "0", "2"


def sync_schedule(schedule: Schedule) -> PeriodicTask:
    """Create or update the schedule's PeriodicTask (crontab in the server's time zone); paused when disabled."""
    return sync_periodic_task(
        schedule,
        name=f"{PERIODIC_TASK_PREFIX}{schedule.pk}: {schedule.name}",
        task=RUN_SCHEDULE_TASK,
        crontab={
            "minute": schedule.minute,
            "hour": schedule.hour,
            "day_of_week": schedule.day_of_week,
            "day_of_month": schedule.day_of_month,
            "month_of_year": schedule.month_of_year,
        },
        enabled=schedule.enabled,
        description=f"Scans {schedule.host or 'tag ' + str(schedule.tag)} ({schedule.crontab_text})",
    )


@transaction.atomic
def save_schedule(schedule: Schedule) -> Schedule:
    """Save a schedule (new or changed) and its beat task together."""
    schedule.save()
    sync_schedule(schedule)
    return schedule


@transaction.atomic
def set_enabled(schedule: Schedule, enabled: bool) -> Schedule:
    """Pause or resume a schedule, and its beat task with it."""
    schedule.enabled = enabled
    schedule.save(update_fields=["enabled"])
    sync_schedule(schedule)
    return schedule


@transaction.atomic
def delete_schedule(schedule: Schedule) -> None:
    """Delete a schedule; its PeriodicTask goes with it (schedule_deleted), so beat stops running it."""
    schedule.delete()


def schedule_deleted(sender: Any, instance: Schedule, **kwargs: Any) -> None:
    """post_delete of a Schedule, however it went (alone, with its host, with its tag): drop its beat task."""
    drop_periodic_task(instance)


def host_saved(sender: Any, instance: Host, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """post_save of a Host: a new one gets the nightly default schedule (not when loading fixtures)."""
    if created and not raw:
        ensure_default_schedule(instance)


def ensure_default_schedule(host: Host) -> Schedule:
    """Give a host the nightly default schedule (02:00 server time) unless one targets it already."""
    existing = Schedule.objects.filter(host=host).order_by("pk").first()
    if existing is not None:
        return existing
    name = f"Nightly: {host.name}"[:100]
    if Schedule.objects.filter(name=name).exists():
        name = f"Nightly: {host.name} (#{host.pk})"[-100:]
    schedule = Schedule(name=name, host=host, minute=DEFAULT_MINUTE, hour=DEFAULT_HOUR)
    return save_schedule(schedule)


def spread(schedule_id: int, host_ids: Sequence[int], window_minutes: int) -> dict[int, float]:
    """Seconds from now at which each host's scan is due: evenly spaced over the window, in an order fixed by a
    hash of (schedule, host), so a host keeps its place in the night however the fleet is listed, and a fleet
    that grows only moves each host a little. Window 0: all at once."""
    window = window_minutes * 60
    if not window or not host_ids:
        return dict.fromkeys(host_ids, 0.0)

    def place(host_id: int) -> bytes:
        return hashlib.sha256(f"{schedule_id}:{host_id}".encode()).digest()

    ordered = sorted(host_ids, key=place)
    step = window / len(ordered)
    return {host_id: round(i * step, 1) for i, host_id in enumerate(ordered)}


def run_schedule(schedule_id: int) -> list[Scan]:
    """Queue a scan (trigger SCHEDULE) of each enabled host the schedule targets. Returns the scans queued.

    With a window, the hosts' scans are due at evenly spaced times over it (spread), instead of all at once.
    A host already scanning keeps its scan (start_scan returns it, and sends its message again when it has
    waited too long for a worker, so a lost message never blocks a night's scan).
    """
    schedule = Schedule.objects.filter(pk=schedule_id, enabled=True).first()
    if schedule is None:
        return []
    hosts = list(schedule.target_hosts())
    due = spread(schedule.pk, [host.pk for host in hosts], schedule.window_minutes)
    started = []
    for host in hosts:
        scan = start_scan(host, trigger=Scan.Trigger.SCHEDULE, countdown=due[host.pk])
        if scan.trigger == Scan.Trigger.SCHEDULE and scan.status == Scan.Status.QUEUED and scan.sends <= 1:
            started.append(scan)
    return started
