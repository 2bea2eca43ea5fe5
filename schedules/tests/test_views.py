"""Schedule pages: htmx partials, crontab validation, beat's PeriodicTask in step (access: tests/test_access.py)."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from hosts.models import Host, Tag
from hosts.services import create_host
from schedules.forms import next_run
from schedules.models import Schedule
from tests.personas import HX, persona_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> Host:
    return create_host("web-1", "tcp://web-1.example.invalid:2376")


@pytest.fixture
def schedule(host: Host) -> Schedule:
    return Schedule.objects.get(host=host)  # the nightly default create_host gave it


def schedule_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Every 15 minutes on weekdays",
        "host": "",
        "tag": "",
        "minute": "*/15",
        "hour": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "mon-fri",
        "enabled": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def urls(schedule: Schedule) -> dict[str, str]:
    return {
        "list": reverse("schedules:list"),
        "add": reverse("schedules:add"),
        "edit": reverse("schedules:edit", args=[schedule.pk]),
        "toggle": reverse("schedules:toggle", args=[schedule.pk]),
    }


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_a_viewer_sees_the_schedules_with_target_crontab_and_next_run(
    schedule: Schedule, headers: dict[str, str]
) -> None:
    response = persona_client("viewer").get(reverse("schedules:list"), headers=headers)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Nightly: web-1" in body
    assert "<code>0 2 * * *</code>" in body
    expected = timezone.localtime(next_run(schedule))
    assert expected.strftime("%Y-%m-%d %H:%M") in body
    assert expected.hour == 2 and expected.minute == 0
    assert reverse("schedules:edit", args=[schedule.pk]) not in body  # no buttons it may not use
    assert reverse("schedules:toggle", args=[schedule.pk]) not in body


@pytest.mark.parametrize("persona", ["operator", "admin"])
def test_operators_and_admins_add_a_schedule_for_a_tag_and_beat_gets_its_task(host: Host, persona: str) -> None:
    tag = Tag.objects.create(name="prod")
    client = persona_client(persona)
    assert client.get(reverse("schedules:add")).status_code == 200

    response = client.post(reverse("schedules:add"), schedule_data(tag=tag.pk))

    assert response.status_code == 302
    assert response["Location"] == reverse("schedules:list")
    schedule = Schedule.objects.get(tag=tag)
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("*/15", "*", "mon-fri")
    assert "Every 15 minutes on weekdays" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("persona", ["operator", "admin"])
def test_operators_and_admins_edit_a_schedule_and_beat_sees_the_new_crontab(
    schedule: Schedule, host: Host, persona: str
) -> None:
    response = persona_client(persona).post(
        reverse("schedules:edit", args=[schedule.pk]),
        schedule_data(name="Nightly at 03:30", host=host.pk, minute="30", hour="3", day_of_week="*"),
    )
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.crontab_text == "30 3 * * *"
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.crontab.minute, task.crontab.hour) == ("30", "3")
    assert task.name.endswith("Nightly at 03:30")


@pytest.mark.parametrize("persona", ["operator", "admin"])
def test_pause_and_resume_disable_and_enable_the_periodic_task(schedule: Schedule, persona: str) -> None:
    client = persona_client(persona)
    response = client.post(reverse("schedules:toggle", args=[schedule.pk]), follow=True)
    assert b"Schedule Nightly: web-1 paused." in response.content
    schedule.refresh_from_db()
    assert schedule.enabled is False
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled is False

    client.post(reverse("schedules:toggle", args=[schedule.pk]))
    schedule.refresh_from_db()
    assert schedule.enabled is True
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled is True


def test_pause_only_answers_post(schedule: Schedule) -> None:
    assert persona_client("operator").get(reverse("schedules:toggle", args=[schedule.pk])).status_code == 405


# -- htmx ---------------------------------------------------------------------------------------------


def test_the_list_serves_the_schedule_table_alone_to_htmx(schedule: Schedule) -> None:
    response = persona_client("viewer").get(reverse("schedules:list"), headers=HX)
    assert b"<html" not in response.content
    assert response.content.lstrip().startswith(b'<table id="schedule-table"')


@pytest.mark.parametrize("name", ["add", "edit"])
def test_the_forms_serve_their_partial_to_htmx(schedule: Schedule, name: str) -> None:
    response = persona_client("operator").get(urls(schedule)[name], headers=HX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'<form id="schedule-form"' in response.content


def test_an_htmx_pause_swaps_in_the_row_showing_paused(schedule: Schedule) -> None:
    response = persona_client("operator").post(reverse("schedules:toggle", args=[schedule.pk]), headers=HX)
    assert response.status_code == 200
    body = response.content.decode().strip()
    assert body.startswith(f'<tr id="schedule-{schedule.pk}">')
    assert "<td>paused</td>" in body and ">Resume</button>" in body
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled is False


def test_a_successful_htmx_edit_navigates_with_hx_redirect(schedule: Schedule, host: Host) -> None:
    response = persona_client("operator").post(
        reverse("schedules:edit", args=[schedule.pk]), schedule_data(host=host.pk), headers=HX
    )
    assert response.headers["HX-Redirect"] == reverse("schedules:list")


# -- validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("minute", "61"), ("hour", "24"), ("day_of_week", "funday"), ("day_of_month", "0"), ("month_of_year", "13")],
)
def test_a_crontab_field_beat_could_not_parse_is_refused(host: Host, field: str, value: str) -> None:
    response = persona_client("operator").post(
        reverse("schedules:add"), schedule_data(host=host.pk, **{field: value}), headers=HX
    )
    assert response.status_code == 200
    assert b"Not a valid crontab value" in response.content
    assert not Schedule.objects.filter(name="Every 15 minutes on weekdays").exists()


@pytest.mark.parametrize(("day", "month"), [("30", "2"), ("31", "4"), ("31", "4,6,9,11"), ("30-31", "2")])
def test_a_schedule_that_could_never_run_is_refused(host: Host, day: str, month: str) -> None:
    response = persona_client("operator").post(
        reverse("schedules:add"), schedule_data(host=host.pk, day_of_month=day, month_of_year=month), headers=HX
    )
    assert response.status_code == 200
    assert b"This schedule would never run" in response.content
    assert b"never occurs in month_of_year" in response.content  # beat's own parser says why
    assert not Schedule.objects.filter(name="Every 15 minutes on weekdays").exists()


def test_a_rare_but_real_date_is_accepted(host: Host) -> None:
    response = persona_client("operator").post(
        reverse("schedules:add"), schedule_data(host=host.pk, day_of_month="29", month_of_year="2")
    )
    assert response.status_code == 302
    assert Schedule.objects.filter(name="Every 15 minutes on weekdays", day_of_month="29").exists()


@pytest.mark.parametrize("target", ["none", "both"])
def test_a_schedule_targets_exactly_one_host_or_one_tag(host: Host, target: str) -> None:
    tag = Tag.objects.create(name="prod")
    data = schedule_data() if target == "none" else schedule_data(host=host.pk, tag=tag.pk)
    response = persona_client("operator").post(reverse("schedules:add"), data)
    assert response.status_code == 200
    assert b"Choose one target: a host or a tag." in response.content
    assert b"schedule_targets_a_host_or_a_tag" not in response.content  # said once, in our words
    assert Schedule.objects.count() == 1


def test_next_run_follows_the_crontab_and_a_paused_schedule_has_none(schedule: Schedule) -> None:
    def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
        return timezone.make_aware(datetime(year, month, day, hour, minute))  # noqa: DTZ001 - made aware here

    saturday_noon = at(2026, 11, 28, 12, 0)
    assert next_run(schedule, saturday_noon) == at(2026, 11, 29, 2, 0)
    schedule.minute, schedule.hour, schedule.day_of_week = "*/15", "*", "mon-fri"
    assert next_run(schedule, saturday_noon) == at(2026, 11, 30, 0, 0)
    schedule.enabled = False
    assert next_run(schedule, saturday_noon) is None


def test_a_schedule_is_saved_with_its_window_and_the_list_shows_it(host: Host) -> None:
    client = persona_client("operator")
    response = client.post(reverse("schedules:add"), schedule_data(name="Spread", host=host.pk, window_minutes="60"))
    assert response.status_code == 302, response.content.decode()
    assert Schedule.objects.get(name="Spread").window_minutes == 60
    assert "spread over 60 min" in client.get(reverse("schedules:list")).content.decode()
    refused = client.post(reverse("schedules:add"), schedule_data(name="Too long", host=host.pk, window_minutes="181"))
    assert refused.status_code == 200 and not Schedule.objects.filter(name="Too long").exists()
    assert Schedule.objects.filter(window_minutes=0).count() == Schedule.objects.count() - 1  # empty: all at once
