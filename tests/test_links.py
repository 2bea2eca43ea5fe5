"""A page shows a persona only the links and buttons it may use (Edit host is not offered to a Viewer)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from hosts.services import create_host
from scans.models import Scan
from scans.tests.factories import make_scan
from schedules.models import Schedule
from tests.personas import persona_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict[str, Any]:
    host = create_host("web-1", "tcp://web-1.example.invalid:2376")
    make_scan(host)
    running = Scan.objects.create(host=host, status=Scan.Status.RUNNING)
    return {"host": host, "running": running, "schedule": Schedule.objects.get(host=host)}


def _links(world: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """What each control is, and the page it is on."""
    host, schedule = world["host"], world["schedule"]
    fleet_host = reverse("scans:host", args=[host.pk])
    return {
        "edit host": (fleet_host, f'href="{reverse("hosts:edit", args=[host.pk])}"'),
        "cancel scan": (fleet_host, f'action="{reverse("scans:scan-cancel", args=[world["running"].pk])}"'),
        "add host": (reverse("hosts:list"), f'href="{reverse("hosts:add")}"'),
        "delete host": (reverse("hosts:list"), f'href="{reverse("hosts:delete", args=[host.pk])}"'),
        "edit schedule": (reverse("schedules:list"), f'href="{reverse("schedules:edit", args=[schedule.pk])}"'),
        "pause schedule": (reverse("schedules:list"), f'action="{reverse("schedules:toggle", args=[schedule.pk])}"'),
        "delete schedule": (reverse("schedules:list"), f'href="{reverse("schedules:delete", args=[schedule.pk])}"'),
        "add schedule": (reverse("schedules:list"), f'href="{reverse("schedules:add")}"'),
        "audit trail": (reverse("scans:overview"), f'href="{reverse("audit:audit-trail")}"'),
        "admin": (reverse("scans:overview"), f'href="{reverse("admin:index")}"'),
    }


OFFERED = {
    "viewer": set(),
    "operator": {
        "edit host",
        "cancel scan",
        "add host",
        "delete host",
        "edit schedule",
        "pause schedule",
        "delete schedule",
        "add schedule",
    },  # fmt: skip
}
OFFERED["admin"] = OFFERED["operator"] | {"audit trail", "admin"}


@pytest.mark.parametrize("persona", sorted(OFFERED))
def test_each_persona_sees_exactly_the_controls_its_role_can_use(persona: str, world: dict[str, Any]) -> None:
    client = persona_client(persona)
    pages: dict[str, str] = {}
    shown = set()
    for control, (url, marker) in _links(world).items():
        if url not in pages:
            pages[url] = client.get(url).content.decode()
        if marker in pages[url]:
            shown.add(control)
    assert shown == OFFERED[persona]


def test_scan_now_is_offered_to_operators_only(world: dict[str, Any]) -> None:
    world["running"].delete()  # the button shows when no scan is running
    page = reverse("scans:host", args=[world["host"].pk])
    assert "Scan now" not in persona_client("viewer").get(page).content.decode()
    assert "Scan now" in persona_client("operator").get(page).content.decode()
