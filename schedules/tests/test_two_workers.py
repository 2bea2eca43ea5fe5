"""Two worker machines sharing one fleet, one of them SIGKILLed mid-night: real Celery workers on Redis, against the
real dockerd.

Each worker stands for a machine of its own: its own process and ``-n`` name, the same broker and database. Both
read the scheduled queue, which is what they share: the night's scans. Each also reads a queue the other does not:
alpha the default one (``run_schedule``, housekeeping, reports: the first machine), beta the interactive one (a
second machine that adds scan capacity, docs/deployment.md "Several worker machines"); so whichever is killed, the
night does not depend on it. The solo pool keeps one scan at a time per machine, so which scan each holds is plain.

The broker's visibility timeout stays production's (an hour): a dead machine's work comes back through the heartbeat
reaper, called here as beat would send it, not by waiting for Redis; and no live worker's message is handed to the
other mid-scan. A short timeout would also hand the other worker a message its live holder still runs (and would
put back in-flight messages of any other test session on the same Redis, whose unacked index is shared).
"""

from __future__ import annotations

import collections
import re

import pytest
from django.utils import timezone

from dockerbench.runner import select
from hosts.models import Host, Tag
from hosts.services import create_host
from scans import services
from scans.models import Scan
from scans.tests.test_tasks import no_duplicate_rows
from schedules.models import Schedule
from schedules.services import save_schedule
from schedules.tasks import run_schedule
from tests.workers import Worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]

ALPHA_QUEUES = ("default", "scheduled")
BETA_QUEUES = ("interactive", "scheduled")
RECEIVED = re.compile(r"Task scans\.tasks\.run_scan\[[-0-9a-f]+\] received")


def test_a_worker_killed_mid_night_loses_no_scan_and_the_other_runs_none_twice(
    start_worker, gated_docker, docker_url: str, settings
) -> None:
    alpha = start_worker(name="alpha@%h", queues=ALPHA_QUEUES, heartbeat_seconds=0.5)
    beta = start_worker(name="beta@%h", queues=BETA_QUEUES, heartbeat_seconds=0.5)
    night = Tag.objects.create(name="night")
    # Queued by name: six hosts that answer, two whose engine (behind the gate) hangs, four more that answer. The
    # workers take the six between them, then one hanging scan each; the last four wait on the queue.
    urls = [docker_url] * 6 + [gated_docker.url] * 2 + [docker_url] * 4
    fleet = [create_host(f"host-{i:02}", url, tags=[night], facts_method=Host.Facts.NONE) for i, url in enumerate(urls)]
    hanging = fleet[6:8]
    schedule = save_schedule(Schedule(name="The night", tag=night))

    run_schedule.delay(schedule.pk)  # on the default queue: alpha queues the night, beta starts on it at once

    def each_holds_a_hanging_scan() -> bool:
        held = Scan.objects.filter(host__in=hanging, status=Scan.Status.RUNNING, progress__phase="collecting")
        return set(held.values_list("worker", flat=True)) == {alpha.hostname, beta.hostname}

    wait_for(each_holds_a_hanging_scan, timeout=60, what="each worker to hold a scan stuck in collection")
    assert gated_docker.requests_seen.wait(30), "no worker reached the engine"
    done_before = {
        s.pk: (s.worker, s.attempts, s.claim, s.finished) for s in Scan.objects.filter(status=Scan.Status.SUCCEEDED)
    }
    assert len(done_before) == 6, done_before
    # The one that finished more of the night dies: what it finished must stay as it was.
    ran = collections.Counter(worker for worker, *_ in done_before.values())
    victim, survivor = sorted((alpha, beta), key=lambda w: ran[w.hostname], reverse=True)
    assert ran[victim.hostname] >= 3, ran
    dead_scan = Scan.objects.get(host__in=hanging, worker=victim.hostname)
    victim.kill()
    killed_at = timezone.now()
    gated_docker.release()

    settings.DOCKERBENCH_HEARTBEAT_TIMEOUT_SECONDS = 2  # the reaper here, with a short timeout for the test
    reaped: collections.Counter[str] = collections.Counter()

    def reap() -> int:
        reaped.update(services.reap_stale_scans())
        return reaped["requeued"]

    wait_for(reap, timeout=30, what="the reaper to notice the dead worker's scan")
    scans = _all_succeeded(fleet, survivor)
    # None lost, none twice: one scan per host, so no two of a host's scans overlapped either.
    assert [s.host_id for s in scans] == [h.pk for h in fleet]
    assert (reaped["requeued"], reaped["failed"]) == (1, 0), reaped  # only the dead worker's scan
    for scan in scans:
        assert scan.reported().count() >= len(select()), scan.host.name
        assert no_duplicate_rows(scan), scan.host.name
    # What either worker had finished before the kill was not run again by the survivor.
    assert {s.pk: (s.worker, s.attempts, s.claim, s.finished) for s in scans if s.pk in done_before} == done_before
    # The dead worker's scan: a second attempt, the survivor's, started after the kill.
    taken_over = next(s for s in scans if s.pk == dead_scan.pk)
    assert (taken_over.worker, taken_over.attempts) == (survivor.hostname, 2)
    assert taken_over.claim != dead_scan.claim
    assert taken_over.started is not None and taken_over.started > killed_at
    # The rest of the night (the survivor's own hanging scan, and the four that waited): the survivor's, once each.
    rest = [s for s in scans if s.pk not in done_before and s.pk != dead_scan.pk]
    assert len(rest) == 5
    assert {(s.worker, s.attempts) for s in rest} == {(survivor.hostname, 1)}


def test_a_worker_killed_while_its_scans_wait_for_their_turn_loses_none(
    start_worker, docker_url: str, settings
) -> None:
    # As a schedule's window queues them: each scan due a few seconds from now (a Celery countdown). Both workers
    # take the messages at once and hold them in their timers, unacknowledged, while the scans are still QUEUED:
    # killing a worker then takes its share of the night's messages with it (until the visibility timeout, an hour).
    alpha = start_worker(name="alpha@%h", queues=ALPHA_QUEUES)
    beta = start_worker(name="beta@%h", queues=BETA_QUEUES)
    fleet = [create_host(f"due-{i}", docker_url, facts_method=Host.Facts.NONE) for i in range(6)]
    queued = [services.start_scan(host, trigger=Scan.Trigger.SCHEDULE, countdown=5) for host in fleet]

    def held(worker: Worker) -> int:  # the scan messages it took (the worker logs each one it receives)
        return len(RECEIVED.findall(worker.log_text()))

    wait_for(lambda: held(alpha) + held(beta) == len(fleet), what="the workers to take every message")
    victim, survivor = sorted((alpha, beta), key=held, reverse=True)
    victim_held = held(victim)
    victim.kill()
    assert set(Scan.objects.filter(host__in=fleet).values_list("status", flat=True)) == {Scan.Status.QUEUED}

    # The reaper sends again a scan whose message is DOCKERBENCH_QUEUED_RESEND_SECONDS past due (five minutes).
    settings.DOCKERBENCH_QUEUED_RESEND_SECONDS = 1
    resent: collections.Counter[str] = collections.Counter()

    def resend() -> bool:
        resent.update(services.reap_stale_scans())
        return resent["resent"] >= victim_held

    wait_for(resend, timeout=30, what="the reaper to send the dead worker's scans again")
    scans = _all_succeeded(fleet, survivor)
    assert [s.pk for s in scans] == [s.pk for s in queued]  # one scan per host
    # All run by the survivor, once each: a second message for a scan it had run finds it taken.
    assert {(s.worker, s.attempts) for s in scans} == {(survivor.hostname, 1)}
    assert all(no_duplicate_rows(s) for s in scans)


def _all_succeeded(fleet: list[Host], survivor: Worker) -> list[Scan]:
    """Wait until the survivor has finished every scan of the fleet; they must all have succeeded."""
    wait_for(
        lambda: not Scan.objects.filter(host__in=fleet, status__in=Scan.ACTIVE_STATUSES).exists(),
        timeout=60,
        what="the survivor to finish every scan",
    )
    scans = list(Scan.objects.filter(host__in=fleet).order_by("host__name"))
    errors = {s.host.name: (s.status, s.error) for s in scans if s.status != Scan.Status.SUCCEEDED}
    assert not errors, (errors, survivor.log_text()[-3000:])
    return scans
