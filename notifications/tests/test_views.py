"""The Admins' pages: channels with their last delivery, the form, the secret shown once, the delivery log."""

from __future__ import annotations

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from core.audit import SECRET_EMPTY, SECRET_SET
from notifications import services
from notifications.models import Channel, Delivery, Event
from notifications.tests.support import HOSTILE, make_channel
from tests.personas import HX, persona_client

pytestmark = pytest.mark.django_db

ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def _form(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "ops hook",
        "kind": "webhook",
        "enabled": "on",
        "recipients": "",
        "url": "https://hooks.example.invalid/dockerbench",
        "format": "json",
        "events": ["new_findings", "scan_failed"],
        "sections": ["5"],
        "min_weight": "7",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_adding_a_webhook_shows_its_secret_once_and_stores_it_sealed() -> None:
    admin = persona_client("admin")
    response = admin.post(reverse("notifications:channel-add"), _form())

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    channel = Channel.objects.get(name="ops hook")
    secret = channel.secret.reveal()
    assert len(secret) >= 40 and secret in response.content.decode()
    assert (channel.events, channel.sections, channel.min_weight) == (["new_findings", "scan_failed"], ["5"], 7)
    assert secret not in str(Channel.objects.filter(pk=channel.pk).values_list("secret", flat=True)[0])
    # Never again: not on the edit page, not in the list, not in the audit trail.
    for url in (reverse("notifications:channel-edit", args=[channel.pk]), reverse("notifications:channels")):
        assert secret not in admin.get(url).content.decode()
    entry = LogEntry.objects.get_for_object(channel).get()
    assert entry.changes_dict["secret"] == [SECRET_EMPTY, SECRET_SET]
    assert secret not in str(entry.changes)


def test_an_htmx_post_gets_the_secret_in_place_of_the_form() -> None:
    response = persona_client("admin").post(reverse("notifications:channel-add"), _form(), headers=HX)
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="channel-secret">')


def test_regenerating_the_secret_shows_the_new_one_once() -> None:
    channel, old = make_channel(url="https://hooks.example.invalid/x")
    response = persona_client("admin").post(
        reverse("notifications:channel-edit", args=[channel.pk]),
        _form(name="ops", regenerate_secret="on"),  # noqa: S106 - a checkbox
    )
    channel.refresh_from_db()
    new = channel.secret.reveal()
    assert new != old and new in response.content.decode() and old not in response.content.decode()


def test_saving_without_regenerating_keeps_the_secret() -> None:
    channel, secret = make_channel(url="https://hooks.example.invalid/x")
    response = persona_client("admin").post(
        reverse("notifications:channel-edit", args=[channel.pk]), _form(name="ops", format="slack")
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.secret.reveal() == secret and channel.format == "slack"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"url": "ftp://files.example.invalid/x"}, "url", "Enter an http:// or https:// URL."),
        ({"url": ""}, "url", "A webhook channel needs its URL."),
        ({"kind": "email", "recipients": "ops@example.invalid, not-an-address"}, "recipients", "not-an-address"),
        ({"kind": "email", "recipients": " , "}, "recipients", "needs at least one address"),
        ({"min_weight": "11"}, "min_weight", "less than or equal to 10"),
        ({"sections": ["9"]}, "sections", "Select a valid choice"),
        ({"events": ["test"]}, "events", "Select a valid choice"),
    ],
)
def test_the_form_says_what_is_wrong(changes: dict[str, Any], field: str, message: str) -> None:
    response = persona_client("admin").post(reverse("notifications:channel-add"), _form(**changes))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert message in response.content.decode()
    assert not Channel.objects.exists()


def test_an_email_channel_keeps_its_recipients_tidy() -> None:
    response = persona_client("admin").post(
        reverse("notifications:channel-add"),
        _form(kind="email", url="", recipients="a@example.invalid,\n b@example.invalid ,"),
    )
    assert response.status_code == 302
    channel = Channel.objects.get()
    assert channel.recipients == "a@example.invalid, b@example.invalid" and not channel.secret


def test_the_list_shows_each_channels_last_delivery_and_escapes_names(django_assert_max_num_queries: Any) -> None:
    channel, _ = make_channel(f"ops{HOSTILE}")
    make_channel("quiet")
    Delivery.objects.create(channel=channel, event=Event.TEST, dedupe_key="a", subject="old", status="sent")
    Delivery.objects.create(
        channel=channel, event=Event.TEST, dedupe_key="b", subject="new", status="failed", last_response_code=503
    )
    admin = persona_client("admin")
    with django_assert_max_num_queries(8):
        body = admin.get(reverse("notifications:channels")).content.decode()
    assert f"ops{ESCAPED}" in body and HOSTILE not in body
    row = body.split(f'id="channel-{channel.pk}"')[1].split("</tr>")[0]
    assert "failed" in row and "HTTP 503" in row


def test_send_a_test_makes_a_test_delivery_and_records_who_asked(django_capture_on_commit_callbacks: Any) -> None:
    channel, _ = make_channel()
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = persona_client("admin").post(reverse("notifications:channel-test", args=[channel.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("notifications:deliveries", args=[channel.pk])
    [delivery] = channel.deliveries.all()
    assert delivery.event == Event.TEST and delivery.status == Delivery.Status.PENDING
    assert len(sent) == 1  # its task, sent on commit
    entry = LogEntry.objects.get_for_object(channel).filter(additional_data__event="test notification sent").get()
    assert entry.actor is not None and entry.actor.username == "admin"


def test_the_delivery_log_shows_the_last_100_with_status_code_error_and_attempts() -> None:
    channel, _ = make_channel()
    for i in range(105):
        Delivery.objects.create(channel=channel, event=Event.NEW_FINDINGS, dedupe_key=f"k{i}", subject=f"s{i}")
    Delivery.objects.create(
        channel=channel,
        event=Event.SCAN_FAILED,
        dedupe_key="hostile",
        subject=f"Scan of web{HOSTILE} failed",
        status="failed",
        attempts=5,
        last_response_code=502,
        last_error=f"HTTP 502 Bad Gateway: {HOSTILE}",
    )
    body = persona_client("admin").get(reverse("notifications:deliveries", args=[channel.pk])).content.decode()
    assert body.count('<tr id="delivery-') == 100
    assert f"Scan of web{ESCAPED} failed" in body and HOSTILE not in body
    row = body.split('<tr id="delivery-')[1].split("</tr>")[0]
    assert (
        "Failed" in row and "<td>5</td>" in row and "<td>502</td>" in row and f"HTTP 502 Bad Gateway: {ESCAPED}" in row
    )


def test_only_admins_are_offered_the_notifications_link() -> None:
    link = f'href="{reverse("notifications:channels")}"'
    assert link in persona_client("admin").get(reverse("scans:overview")).content.decode()
    for persona in ("operator", "viewer"):
        assert link not in persona_client(persona).get(reverse("scans:overview")).content.decode()


def test_a_test_delivery_to_a_disabled_channel_fails_without_sending() -> None:
    channel, _ = make_channel(enabled=False)
    delivery = services.send_test(channel)
    assert services.attempt_delivery(delivery.pk) is services.Outcome.FAILED
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "the channel is disabled")


def test_an_admin_deletes_a_channel_after_confirming_and_the_trail_keeps_it() -> None:
    channel, _ = make_channel(name=HOSTILE)
    Delivery.objects.create(channel=channel, event=Event.TEST, dedupe_key="t", subject="s", payload={})
    client = persona_client("admin")
    page = client.get(reverse("notifications:channel-delete", args=[channel.pk]))
    assert page.status_code == 200 and "1 delivery" in page.text and HOSTILE not in page.text
    response = client.post(reverse("notifications:channel-delete", args=[channel.pk]))
    assert response.status_code == 302
    assert not Channel.objects.filter(pk=channel.pk).exists() and not Delivery.objects.exists()
    assert LogEntry.objects.filter(object_pk=str(channel.pk), action=LogEntry.Action.DELETE).exists()
