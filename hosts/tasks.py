"""Celery tasks of the hosts app: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from hosts import services


# The soft limit is above the engine's own connection timeout, so the service records the engine's reason.
@shared_task(name=services.RUN_CONNECTION_TEST_TASK, acks_late=True, soft_time_limit=45, time_limit=60)
def run_connection_test(test_id: str) -> None:
    services.run_connection_test(test_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def housekeeping() -> None:
    services.remove_orphaned_credentials()  # a worker killed mid-scan could not remove its decrypted keys
    services.prune_connection_tests()
