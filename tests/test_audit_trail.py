"""The audit trail: who changed what, when, from where, never a secret's value; and the page that lists it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.audit import LOGIN, LOGIN_FAILED, LOGOUT, SECRET_EMPTY, SECRET_SET
from hosts.models import Host
from hosts.services import create_host
from scans import services as scan_services
from scans.models import Scan
from schedules.models import Schedule
from tests.personas import HX, PASSWORD, make_user, persona_client

pytestmark = pytest.mark.django_db

KEY = "-----BEGIN PRIVATE KEY-----\nAUDIT-SECRET-9e1f\n-----END PRIVATE KEY-----"  # noqa: S105 - a test value
HOSTILE = "<img src=x onerror=alert(1)>"


def entries_for(model: type, **filters: object) -> list[LogEntry]:
    return list(LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(model), **filters))


def all_entries_text() -> str:
    return json.dumps(
        list(LogEntry.objects.values("object_repr", "changes", "changes_text", "additional_data", "serialized_data")),
        default=str,
    )


def host_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "web-1",
        "url": "tcp://web-1.example.invalid:2376",
        "tags": "prod",
        "enabled": "on",
        "facts_method": "probe",
        "tls_verify": "on",
    }
    data.update(overrides)
    return data


def test_a_host_added_edited_and_deleted_is_in_the_trail_with_who_and_where_but_no_secret() -> None:
    operator = persona_client("operator")
    operator.post(reverse("hosts:add"), host_form(tls_client_cert="CERT", tls_client_key=KEY))
    host = Host.objects.get(name="web-1")
    (created,) = entries_for(Host, action=LogEntry.Action.CREATE)
    assert created.actor is not None and created.actor.username == "operator"
    assert created.remote_addr == "127.0.0.1"
    assert created.changes["url"] == ["None", "tcp://web-1.example.invalid:2376"]
    assert created.changes["tls_client_key"] == [SECRET_EMPTY, SECRET_SET]
    tags = [e for e in entries_for(Host) if "tags" in (e.changes or {})]
    assert tags and tags[0].changes["tags"]["objects"] == ["prod"]

    operator.post(reverse("hosts:edit", args=[host.pk]), host_form(url="tcp://web-2.example.invalid:2376"))
    operator.post(
        reverse("hosts:edit", args=[host.pk]),
        host_form(url="tcp://web-2.example.invalid:2376", tls_client_key=KEY + "\nrotated"),
    )
    (moved,) = entries_for(Host, action=LogEntry.Action.UPDATE, changes__has_key="url")
    assert moved.changes["url"] == ["tcp://web-1.example.invalid:2376", "tcp://web-2.example.invalid:2376"]
    (key_change,) = entries_for(Host, action=LogEntry.Action.UPDATE, changes__has_key="tls_client_key")
    assert key_change.changes["tls_client_key"] == [SECRET_SET, SECRET_SET]  # changed, never shown

    operator.post(reverse("hosts:delete", args=[host.pk]))
    assert not Host.objects.filter(pk=host.pk).exists()
    (deleted,) = entries_for(Host, action=LogEntry.Action.DELETE)
    assert deleted.object_pk == str(host.pk) and deleted.object_repr == "web-1"  # outlives the host
    assert "AUDIT-SECRET" not in all_entries_text() and "sealed:" not in all_entries_text()
    page = persona_client("admin").get(reverse("audit:audit-trail"))
    assert "delete" in page.content.decode() and "web-1" in page.content.decode()


def test_schedules_scans_users_and_groups_are_in_the_trail() -> None:
    host = create_host("web-1", "tcp://web-1.example.invalid:2376")
    operator_user = make_user("operator")
    operator = Client()
    assert operator_user is not None
    operator.force_login(operator_user)
    schedule = Schedule.objects.get(host=host)
    operator.post(reverse("schedules:toggle", args=[schedule.pk]))
    (paused,) = entries_for(Schedule, action=LogEntry.Action.UPDATE)
    assert paused.changes["enabled"] == ["True", "False"] and paused.actor == operator_user

    operator.post(reverse("scans:scan-now", args=[host.pk]))
    scan = Scan.objects.get(host=host)
    operator.post(reverse("scans:scan-cancel", args=[scan.pk]))
    events = [(e.additional_data["event"], e.actor) for e in entries_for(Scan)]
    assert events == [("scan cancelled", operator_user), ("scan queued", operator_user)]  # newest first
    scheduled = scan_services.start_scan(host, trigger=Scan.Trigger.SCHEDULE)
    assert entries_for(Scan, object_pk=str(scheduled.pk))[0].actor is None  # "system"

    admin = persona_client("admin")
    other = User.objects.create_user("newcomer", password=PASSWORD)
    other.groups.add(Group.objects.get(name="Viewers"))
    (joined,) = entries_for(User, object_pk=str(other.pk), changes__has_key="groups")
    assert joined.changes["groups"] == {"type": "m2m", "operation": "add", "objects": ["Viewers"]}
    other.set_password("another-long-password-2")
    other.save()
    (password,) = entries_for(User, object_pk=str(other.pk), action=LogEntry.Action.UPDATE, changes__has_key="password")
    assert password.changes["password"] == [SECRET_SET, SECRET_SET]
    assert "another-long-password" not in all_entries_text() and "pbkdf2" not in all_entries_text()
    body = admin.get(reverse("audit:audit-trail")).content.decode()
    for text in ("scan queued", "scan cancelled", "Nightly: web-1", "newcomer"):
        assert text in body


def test_logins_logouts_and_failed_logins_are_recorded_with_the_address_never_the_password() -> None:
    make_user("viewer")
    client = Client()
    client.post(reverse("login"), {"username": "viewer", "password": "wrong-password-1"}, REMOTE_ADDR="10.1.2.3")
    client.post(reverse("login"), {"username": "nobody", "password": "guess-2"}, REMOTE_ADDR="10.1.2.3")
    client.post(reverse("login"), {"username": "viewer", "password": PASSWORD}, REMOTE_ADDR="10.1.2.4")
    client.post(reverse("logout"), REMOTE_ADDR="10.1.2.4")
    seen = [
        (e.additional_data["event"], e.object_repr, e.remote_addr, e.actor.username if e.actor else None)
        for e in entries_for(User, action=LogEntry.Action.ACCESS)
    ]
    assert seen == [
        (LOGOUT, "viewer", "10.1.2.4", "viewer"),
        (LOGIN, "viewer", "10.1.2.4", "viewer"),
        (LOGIN_FAILED, "nobody", "10.1.2.3", None),
        (LOGIN_FAILED, "viewer", "10.1.2.3", None),
    ]
    assert "wrong-password-1" not in all_entries_text() and "guess-2" not in all_entries_text()


@pytest.mark.parametrize(("hops", "expected"), [(0, "127.0.0.1"), (1, "203.0.113.9"), (2, "198.51.100.7")])
def test_the_address_comes_from_the_trusted_proxies_only(settings, hops: int, expected: str) -> None:
    settings.DOCKERBENCH_TRUSTED_PROXIES = hops
    client = persona_client("operator")
    # The client forged the first entry; the proxies appended the rest (the outermost last).
    forwarded = "6.6.6.6, 198.51.100.7, 203.0.113.9"
    client.post(reverse("hosts:add"), host_form(), headers={"X-Forwarded-For": forwarded})
    (created,) = entries_for(Host, action=LogEntry.Action.CREATE)
    assert created.remote_addr == expected


def test_the_trail_filters_by_user_object_action_and_date_and_pages(settings) -> None:
    operator_user = make_user("operator")
    assert operator_user is not None
    operator = Client()
    operator.force_login(operator_user)
    for i in range(55):
        operator.post(reverse("hosts:add"), host_form(name=f"h{i:02d}", tags=""))
    create_host(HOSTILE, "tcp://evil.example.invalid:2376")  # by the system, with a hostile name
    LogEntry.objects.filter(object_repr="h00").update(timestamp=timezone.now() - timedelta(days=10))
    admin = persona_client("admin")
    url = reverse("audit:audit-trail")

    first = admin.get(url).content.decode()
    assert "page 1 of" in first
    assert HOSTILE not in first and "&lt;img src=x onerror=alert(1)&gt;" in first  # escaped

    host_type = ContentType.objects.get_for_model(Host)
    filters = {"user": str(operator_user.pk), "kind": str(host_type.pk), "action": "create"}
    mine = admin.get(url, filters, headers=HX)
    body = mine.content.decode()
    assert mine.status_code == 200 and "<html" not in body and body.lstrip().startswith('<div id="trail-table"')
    assert body.count("<tr>") == 1 + 50  # header and a full page of the operator's 55 creations
    assert "page 1 of 2" in body and "system" not in body
    last = admin.get(url, {**filters, "page": "2"})
    assert last.content.decode().count("<td>create</td>") == 5

    day = (timezone.now() - timedelta(days=10)).date().isoformat()
    old = admin.get(url, {"since": day, "until": day}).content.decode()
    assert ">h00</span>" not in old  # the object column shows the type, then the name
    assert "h00" in old and "h01" not in old
    assert admin.get(url, {"action": "nonsense"}).status_code == 200  # an invalid filter is ignored, not a 500
