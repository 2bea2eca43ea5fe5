"""Report schedules and their django-celery-beat tasks: made, changed, paused and removed together; the crontab
is checked the way beat will read it."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from hosts.models import Tag
from notifications.models import Channel
from reports import services
from reports.forms import ReportScheduleForm
from reports.models import ReportSchedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail() -> Channel:
    return Channel.objects.create(name="mail", kind=Channel.Kind.EMAIL, recipients="ops@example.invalid")


def _form(mail: Channel, **fields: Any) -> ReportScheduleForm:
    data = {
        "name": "Weekly",
        "period_days": "7",
        "crontab": "0 6 * * 1",
        "recipients": "ciso@example.invalid",
        "channel": str(mail.pk),
        "enabled": "on",
        **fields,
    }
    return ReportScheduleForm(data)


def test_a_saved_schedule_has_a_beat_task_on_its_crontab(mail: Channel) -> None:
    schedule = services.save_schedule(ReportSchedule(name="Weekly", crontab="30 6 * * 1", recipients="a@b.invalid"))

    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "reports.tasks.run_schedule" and json.loads(task.args) == [schedule.pk]
    assert task.enabled and task.name == f"dockerbench report schedule #{schedule.pk}: Weekly"
    cron = task.crontab
    assert cron is not None
    assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week) == (
        "30",
        "6",
        "*",
        "*",
        "1",
    )
    assert str(cron.timezone) == settings.TIME_ZONE


def test_editing_and_pausing_a_schedule_changes_the_same_beat_task(mail: Channel) -> None:
    schedule = services.save_schedule(ReportSchedule(name="Weekly", recipients="a@b.invalid"))
    task_id = schedule.periodic_task_id

    schedule.crontab, schedule.enabled = "0 7 1 * *", False
    services.save_schedule(schedule)

    [task] = PeriodicTask.objects.filter(task="reports.tasks.run_schedule")
    assert task.pk == task_id and not task.enabled
    assert task.crontab is not None and (task.crontab.hour, task.crontab.day_of_month) == ("7", "1")


def test_a_deleted_schedule_takes_its_beat_task_with_it_however_it_goes(mail: Channel) -> None:
    alone = services.save_schedule(ReportSchedule(name="Alone", recipients="a@b.invalid"))
    tag = Tag.objects.create(name="prod")
    tagged = services.save_schedule(ReportSchedule(name="Tagged", tag=tag, recipients="a@b.invalid"))
    assert PeriodicTask.objects.filter(task="reports.tasks.run_schedule").count() == 2

    services.delete_schedule(alone)
    assert list(PeriodicTask.objects.filter(task="reports.tasks.run_schedule")) == [tagged.periodic_task]
    tag.delete()  # never widened to the whole fleet: the schedule goes with its tag
    assert not ReportSchedule.objects.exists()
    assert not PeriodicTask.objects.filter(task="reports.tasks.run_schedule").exists()


def test_a_paused_schedule_makes_nothing(mail: Channel) -> None:
    schedule = services.save_schedule(ReportSchedule(name="Paused", recipients="a@b.invalid", enabled=False))
    assert services.run_schedule(schedule.pk, run_key="x") is None


def test_a_schedule_covers_its_period_up_to_the_day_it_runs() -> None:
    wanted = ReportSchedule(name="Weekly", period_days=7, sections=["5", "1"]).report_request(date(2026, 12, 7))
    assert (wanted.since, wanted.until, wanted.sections, wanted.tag) == (
        date(2026, 12, 1),
        date(2026, 12, 7),
        ("1", "5"),
        "",
    )


@pytest.mark.parametrize(
    ("crontab", "message"),
    [
        ("0 6 * *", "A crontab has five fields"),
        ("61 6 * * 1", "minute:"),
        ("0 25 * * 1", "hour:"),
        ("0 6 31 2 *", "This crontab would never run"),
    ],
)
def test_a_crontab_beat_could_not_run_is_refused_next_to_its_field(mail: Channel, crontab: str, message: str) -> None:
    form = _form(mail, crontab=crontab)
    assert not form.is_valid()
    assert message in " ".join(map(str, form.errors["crontab"]))


def test_the_form_wants_addresses_and_an_email_channel(mail: Channel) -> None:
    hook = Channel.objects.create(name="hook", kind=Channel.Kind.WEBHOOK, url="http://127.0.0.1:9/h")
    form = _form(mail, recipients="not-an-address, ciso@example.invalid", channel=str(hook.pk))
    assert not form.is_valid()
    assert "Not an email address: not-an-address" in " ".join(map(str, form.errors["recipients"]))
    assert "channel" in form.errors  # a webhook is not one of the choices
    assert [choice for choice, _ in form.fields["channel"].choices][1:] == [mail.pk]  # type: ignore[attr-defined]

    form = _form(mail, recipients=" ciso@example.invalid ,\naudit@example.invalid", crontab="  0  6 * * 1 ")
    assert form.is_valid(), form.errors
    schedule = services.save_schedule(form.save(commit=False))
    assert (schedule.recipients, schedule.crontab) == ("ciso@example.invalid, audit@example.invalid", "0 6 * * 1")
