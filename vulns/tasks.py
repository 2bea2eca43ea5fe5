"""Celery tasks: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from vulns import lookups
from vulns.services import LOOKUP_TASK


# Safe twice: each (service, digest) lookup is claimed with a conditional UPDATE (vulns.lookups).
@shared_task(name=LOOKUP_TASK, acks_late=True, soft_time_limit=900, time_limit=960)
def lookup_images(host_id: int) -> dict[str, int]:
    return lookups.lookup_host_images(host_id)
