"""Celery tasks of the schedules app: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from schedules import services


@shared_task(
    name=services.RUN_SCHEDULE_TASK,
    acks_late=True,
    soft_time_limit=120,
    time_limit=150,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
)
def run_schedule(schedule_id: int) -> None:
    services.run_schedule(schedule_id)
