"""Schedule workflows: beat's PeriodicTask in step, a schedule's run, and what follows a host in and out."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from hosts.models import Host, Tag
from hosts.services import create_host, delete_host
from scans.models import Scan
from schedules import services
from schedules.models import Schedule
from tests.personas import persona_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_host(docker_url: str) -> Host:
    return create_host("local-test", docker_url, facts_method=Host.Facts.NONE)


def test_run_schedule_queues_one_scan_per_enabled_host_with_the_tag(
    django_capture_on_commit_callbacks,
) -> None:
    nightly = Tag.objects.create(name="nightly")
    hosts = [create_host(f"h{i}", "unix:///var/run/docker.sock", tags=[nightly]) for i in range(4)]
    create_host("untagged", "unix:///var/run/docker.sock")
    Host.objects.filter(pk=hosts[3].pk).update(enabled=False)
    busy = Scan.objects.create(
        host=hosts[2], status=Scan.Status.RUNNING, started=timezone.now(), heartbeat=timezone.now()
    )
    schedule = Schedule.objects.create(name="tagged", tag=nightly)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queued = services.run_schedule(schedule.pk)

    assert sorted(s.host.name for s in queued) == ["h0", "h1"]
    assert {s.trigger for s in queued} == {Scan.Trigger.SCHEDULE}
    assert len(callbacks) == 2
    assert Scan.objects.filter(host=hosts[2]).get() == busy

    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
    assert services.run_schedule(schedule.pk) == []


def test_sync_schedule_creates_updates_and_pauses_its_periodic_task(local_host: Host, settings) -> None:
    schedule = Schedule.objects.create(name="hourly", host=local_host, minute="15", hour="*")

    task = services.sync_schedule(schedule)

    assert task.task == "schedules.tasks.run_schedule"
    assert json.loads(task.args) == [schedule.pk]
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("15", "*")
    assert str(task.crontab.timezone) == settings.TIME_ZONE
    schedule.refresh_from_db()
    assert schedule.periodic_task_id == task.pk

    schedule.enabled = False
    schedule.hour = "3"
    schedule.save()
    paused = services.sync_schedule(schedule)

    assert paused.pk == task.pk
    assert not paused.enabled
    assert paused.crontab.hour == "3"

    services.delete_schedule(schedule)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_every_new_host_gets_the_nightly_default(local_host: Host, settings) -> None:
    schedule = Schedule.objects.get(host=local_host)
    assert (schedule.minute, schedule.hour, schedule.day_of_week, schedule.enabled) == ("0", "2", "*", True)
    assert schedule.periodic_task is not None and schedule.periodic_task.enabled
    assert str(schedule.periodic_task.crontab.timezone) == settings.TIME_ZONE


def test_a_host_added_on_the_form_gets_the_nightly_default_with_its_beat_task() -> None:
    response = persona_client("operator").post(
        reverse("hosts:add"),
        {"name": "web-9", "url": "tcp://web-9.example.invalid:2376", "facts_method": "probe", "tls_verify": "on"},
    )
    assert response.status_code == 302
    schedule = Schedule.objects.get(host__name="web-9")
    assert (schedule.name, schedule.minute, schedule.hour, schedule.enabled) == ("Nightly: web-9", "0", "2", True)
    assert schedule.periodic_task is not None and schedule.periodic_task.task == services.RUN_SCHEDULE_TASK


def test_a_host_added_in_the_admin_gets_it_too() -> None:
    admin = persona_client("admin")
    response = admin.post(
        reverse("admin:hosts_host_add"),
        {"name": "web-8", "url": "tcp://web-8.example.invalid:2376", "facts_method": "probe", "enabled": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:1500]
    assert Schedule.objects.filter(host__name="web-8").count() == 1


@pytest.mark.parametrize("how", ["service", "page", "admin"])
def test_deleting_a_host_deletes_its_schedules_and_their_beat_tasks(how: str) -> None:
    host = create_host("doomed", "tcp://doomed.example.invalid:2376")
    task_id = Schedule.objects.get(host=host).periodic_task_id
    assert PeriodicTask.objects.filter(pk=task_id).exists()
    if how == "service":
        delete_host(host)
    elif how == "page":
        assert persona_client("operator").post(reverse("hosts:delete", args=[host.pk])).status_code == 302
    else:
        response = persona_client("admin").post(reverse("admin:hosts_host_delete", args=[host.pk]), {"post": "yes"})
        assert response.status_code == 302
    assert not Host.objects.filter(pk=host.pk).exists()
    assert not Schedule.objects.filter(pk__isnull=False, host_id=host.pk).exists()
    assert not PeriodicTask.objects.filter(pk=task_id).exists()  # beat no longer runs the host's schedule


def test_deleting_a_tag_deletes_the_schedules_that_target_it_and_their_beat_tasks() -> None:
    tag = Tag.objects.create(name="nightly")
    schedule = services.save_schedule(Schedule(name="tagged", tag=tag))
    task_id = schedule.periodic_task_id
    tag.delete()
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


def test_a_schedule_deleted_on_its_page_takes_its_beat_task_with_it(local_host: Host) -> None:
    schedule = Schedule.objects.get(host=local_host)
    task_id = schedule.periodic_task_id
    client = persona_client("operator")
    assert client.get(reverse("schedules:delete", args=[schedule.pk])).status_code == 200
    assert Schedule.objects.filter(pk=schedule.pk).exists()  # a GET never deletes
    assert client.post(reverse("schedules:delete", args=[schedule.pk])).status_code == 302
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


def test_a_window_spreads_the_hosts_evenly_and_each_host_keeps_its_place() -> None:
    due = services.spread(7, list(range(1, 13)), 60)
    assert sorted(due.values()) == [i * 300.0 for i in range(12)]  # 12 hosts over 60 min: one every 5 min
    assert services.spread(7, list(reversed(range(1, 13))), 60) == due  # listed in another order: same places
    assert services.spread(8, list(range(1, 13)), 60) != due  # another schedule: another order
    assert services.spread(7, [1, 2, 3], 0) == {1: 0.0, 2: 0.0, 3: 0.0}


def test_run_schedule_with_a_window_sends_each_scan_due_at_its_place_in_it(
    django_capture_on_commit_callbacks,
) -> None:
    fleet = Tag.objects.create(name="fleet")
    hosts = [create_host(f"w{i}", "unix:///var/run/docker.sock", tags=[fleet]) for i in range(4)]
    schedule = Schedule.objects.create(name="spread", tag=fleet, window_minutes=60)
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        queued = services.run_schedule(schedule.pk)

    expected = services.spread(schedule.pk, [h.pk for h in hosts], 60)
    assert len(queued) == 4
    for scan in Scan.objects.filter(host__in=hosts):
        # sent_at is when the message is due: the reaper does not take a scan waiting its turn for a lost one.
        assert scan.sent_at is not None
        due = (scan.sent_at - before).total_seconds()
        assert expected[scan.host_id] <= due < expected[scan.host_id] + 5, (scan.host_id, due)
    assert sorted(expected.values()) == [0.0, 900.0, 1800.0, 2700.0]
