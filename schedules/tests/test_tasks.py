"""A schedule through a real Celery worker process on Redis, against the real dockerd."""

from __future__ import annotations

import pytest

from hosts.models import Host, Tag
from hosts.services import create_host
from scans.models import Scan
from schedules import tasks
from schedules.models import Schedule
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def test_a_schedule_run_by_the_worker_scans_every_enabled_host_with_its_tag(start_worker, docker_url: str) -> None:
    start_worker()
    fleet = Tag.objects.create(name="fleet")
    hosts = [create_host(f"fleet-{i}", docker_url, tags=[fleet], facts_method=Host.Facts.NONE) for i in range(2)]
    paused = create_host("fleet-off", docker_url, tags=[fleet], enabled=False)
    schedule = Schedule.objects.create(name="fleet nightly", tag=fleet)

    tasks.run_schedule.delay(schedule.pk)

    def both_done() -> bool:
        scans = Scan.objects.filter(host__in=hosts)
        return scans.count() == 2 and all(s.status in Scan.FINISHED_STATUSES for s in scans)

    wait_for(both_done, timeout=60, what="one scan per tagged host")
    scans = Scan.objects.filter(host__in=hosts)
    assert {s.status for s in scans} == {Scan.Status.SUCCEEDED}
    assert {s.trigger for s in scans} == {Scan.Trigger.SCHEDULE}
    assert not Scan.objects.filter(host=paused).exists()
