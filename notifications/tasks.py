"""Celery tasks: thin wrappers that take ids and call one service (notifications/services.py)."""

from __future__ import annotations

from celery import Task, shared_task

from notifications import services


@shared_task(
    bind=True,
    name=services.DELIVER_TASK,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    max_retries=services.MAX_TRIES - 1,
)
def deliver(self: Task, delivery_id: int) -> str:
    # The service records every try on the delivery; only "try again later" comes back here, as a retry.
    final = self.request.retries >= services.MAX_TRIES - 1
    outcome = services.attempt_delivery(delivery_id, final=final)
    if outcome is services.Outcome.RETRY:
        raise self.retry(countdown=services.backoff(self.request.retries))
    return outcome.value


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def notify_stale_hosts() -> int:
    return services.notify_stale_hosts()


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def notify_expiring_waivers() -> int:
    return services.notify_expiring_waivers()


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def resend_lost_deliveries() -> int:
    return services.resend_lost_deliveries()
