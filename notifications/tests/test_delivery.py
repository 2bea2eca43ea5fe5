"""Sending, against real receivers on loopback: a webhook endpoint that checks signatures, an SMTP server, a
port nobody listens on, and a real Celery worker. The task runs with its real retries (``apply`` runs a retry
at once instead of after its backoff)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dockerbench.results import ObjectRef, Result, Status
from dockerbench.snapshot import HostSnapshot
from notifications import services, tasks
from notifications.models import Channel, Delivery, Event
from notifications.tests.conftest import Webhook, free_port
from notifications.tests.support import HOSTILE, announce, make_channel
from scans import services as scan_services
from scans.models import Scan
from scans.tests.factories import make_host, make_scan, track
from tests.workers import wait_for

pytestmark = pytest.mark.django_db


def _new_findings(capture: Any, channel_name: str = "ops") -> Delivery:
    host = make_host(f"web{HOSTILE}")
    track(make_scan(host, when=timezone.now() - timedelta(hours=2)), ("5.1", "WARN", "container", "old"))
    scan = make_scan(host)
    news = track(scan, ("5.1", "WARN", "container", "old"), ("5.5", "WARN", "container", f"db{HOSTILE}"))
    [delivery] = [d for d in announce(capture, scan, news) if d.channel.name == channel_name]
    return delivery


def _run(delivery: Delivery) -> Delivery:
    tasks.deliver.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    return delivery


def test_a_webhook_gets_the_json_body_signed_with_the_channels_secret(
    webhook: Webhook, django_capture_on_commit_callbacks: Any
) -> None:
    _, webhook.secret = make_channel(url=webhook.url)
    delivery = _run(_new_findings(django_capture_on_commit_callbacks))

    assert (delivery.status, delivery.last_response_code, delivery.attempts) == (Delivery.Status.SENT, 200, 1)
    assert delivery.sent_at is not None and delivery.last_error == ""
    [got] = webhook.received
    assert got.signature_ok
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Dockerbench-Event"] == "new_findings"
    assert got.headers["X-Dockerbench-Delivery"] == str(delivery.pk)
    assert got.json == delivery.payload
    assert got.json["host"]["name"] == f"web{HOSTILE}"  # JSON carries the name as it is; the receiver escapes
    assert got.json["findings"][0]["object_name"] == f"db{HOSTILE}"


def test_a_body_signed_with_another_secret_does_not_verify(
    webhook: Webhook, django_capture_on_commit_callbacks: Any
) -> None:
    make_channel(url=webhook.url)
    webhook.secret = services.new_secret()  # not the channel's
    _run(_new_findings(django_capture_on_commit_callbacks))
    [got] = webhook.received
    assert not got.signature_ok


def test_a_receiver_answering_500_then_200_gets_it_on_the_retry(
    webhook: Webhook, django_capture_on_commit_callbacks: Any
) -> None:
    _, webhook.secret = make_channel(url=webhook.url)
    webhook.answers = [500]
    delivery = _run(_new_findings(django_capture_on_commit_callbacks))

    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (Delivery.Status.SENT, 2, 200)
    assert len(webhook.received) == 2 and all(r.signature_ok for r in webhook.received)
    assert webhook.received[0].body == webhook.received[1].body  # the same bytes, the same signature
    assert webhook.received[0].headers["X-Dockerbench-Delivery"] == str(delivery.pk)


def test_429_is_retried_and_other_4xx_fail_at_once(webhook: Webhook, django_capture_on_commit_callbacks: Any) -> None:
    channel, webhook.secret = make_channel(url=webhook.url)
    webhook.answers = [429]
    first = _run(services.send_test(channel))
    assert (first.status, first.attempts, first.last_response_code) == (Delivery.Status.SENT, 2, 200)

    webhook.answers = [404]
    second = _run(services.send_test(channel))
    assert (second.status, second.attempts, second.last_response_code) == (Delivery.Status.FAILED, 1, 404)
    assert second.last_error.startswith("HTTP 404") and "receiver says no" in second.last_error
    assert len(webhook.received) == 3


def test_a_receiver_that_keeps_failing_is_tried_five_times_then_failed(
    webhook: Webhook, django_capture_on_commit_callbacks: Any
) -> None:
    channel, webhook.secret = make_channel(url=webhook.url)
    webhook.answers = [503] * 10
    delivery = _run(services.send_test(channel))
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (Delivery.Status.FAILED, 5, 503)
    assert len(webhook.received) == services.MAX_TRIES


def test_a_receiver_that_is_down_fails_after_the_retries_and_the_scan_is_unaffected(
    django_capture_on_commit_callbacks: Any, celery_queue: str
) -> None:
    # The receiver's port has nobody listening: every try is "connection refused".
    make_channel(url=f"http://127.0.0.1:{free_port()}/hook")
    host = make_host("web-1")
    scans = []
    for results in ([], [Result("5.5", Status.WARN, "privileged", ObjectRef("container", "c" * 64, "db"))]):
        # A scan recorded for real: claimed, its results stored by record_results, scan_finished on commit
        # (its task messages go to this session's own queue, which no worker reads here).
        with django_capture_on_commit_callbacks(execute=True):
            queued = scan_services.start_scan(host, trigger=Scan.Trigger.USER)
        scan = scan_services.claim_scan(queued.pk, worker="w")
        assert scan is not None
        snapshot = HostSnapshot(target=host.url, collected_at="2026-01-01T00:00:00+00:00")
        with django_capture_on_commit_callbacks(execute=True):
            scan_services.record_results(scan, snapshot, [Result("5.1", Status.PASS), *results])
        scans.append(scan)

    [delivery] = Delivery.objects.all()
    assert delivery.event == Event.NEW_FINDINGS and delivery.payload["findings"][0]["object_name"] == "db"
    delivery = _run(delivery)

    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, services.MAX_TRIES)
    assert delivery.last_response_code is None
    assert "ConnectionError" in delivery.last_error and "refused" in delivery.last_error.lower()
    for scan in scans:
        scan.refresh_from_db()
        assert scan.status == Scan.Status.SUCCEEDED
    # Run again (a redelivered task message): a finished delivery is not sent again.
    assert services.attempt_delivery(delivery.pk) is services.Outcome.NOT_OURS


def test_an_email_names_the_host_and_its_findings_in_plain_text(
    smtp_server: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_channel("mail", kind=Channel.Kind.EMAIL, recipients="sec@example.invalid, ops@example.invalid")
    delivery = _run(_new_findings(django_capture_on_commit_callbacks, "mail"))

    assert (delivery.status, delivery.attempts) == (Delivery.Status.SENT, 1)
    [(rcpt, message)] = smtp_server.messages
    assert rcpt == ["sec@example.invalid", "ops@example.invalid"]
    assert message["Subject"] == f"1 new finding on web{HOSTILE}"
    assert message["From"] == "dockerbench@example.invalid"
    assert message["X-Dockerbench-Event"] == "new_findings"
    assert message.get_content_type() == "text/plain"  # no HTML part, nothing for a mail client to render
    body = message.get_content()
    assert f"Scan #{Scan.objects.latest('pk').pk} of web{HOSTILE} found 1 new WARN finding" in body
    assert f"5.5 Ensure that privileged containers are not used: container db{HOSTILE}" in body
    assert "old" not in body


def test_an_email_to_a_server_that_is_down_is_retried_then_failed(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False
    channel, _ = make_channel("mail", kind=Channel.Kind.EMAIL, recipients="sec@example.invalid")
    delivery = _run(services.send_test(channel))
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, services.MAX_TRIES)
    assert "ConnectionRefusedError" in delivery.last_error


@pytest.mark.slow
def test_a_real_worker_delivers_a_test_notification(webhook: Webhook, start_worker: Any) -> None:
    start_worker()
    channel, webhook.secret = make_channel(url=webhook.url)
    delivery = services.send_test(channel)  # not in a transaction here: its task is sent at once

    wait_for(lambda: Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENT).exists(), what="delivery")
    [got] = webhook.received
    assert got.signature_ok and got.json["event"] == "test" and got.json["channel"]["name"] == "ops"


@pytest.mark.slow
def test_a_delivery_whose_message_was_lost_is_sent_again_by_beat(webhook: Webhook, start_worker: Any) -> None:
    """As if the broker had been down when the delivery was committed: no message, the row stays pending."""
    channel, webhook.secret = make_channel(url=webhook.url)
    notice = services.test_notice(channel)
    lost = Delivery.objects.create(
        channel=channel, event=notice.event, dedupe_key="lost", subject=notice.subject,
        payload=services.render(channel, notice),
    )  # fmt: skip
    recent = Delivery.objects.create(
        channel=channel, event=notice.event, dedupe_key="recent", subject=notice.subject,
        payload=services.render(channel, notice),
    )  # fmt: skip
    too_old = Delivery.objects.create(
        channel=channel, event=notice.event, dedupe_key="too old", subject=notice.subject,
        payload=services.render(channel, notice),
    )  # fmt: skip
    now = timezone.now()
    Delivery.objects.filter(pk=lost.pk).update(created=now - services.RESEND_AFTER - timedelta(minutes=1))
    Delivery.objects.filter(pk=too_old.pk).update(created=now - services.RESEND_WITHIN - timedelta(minutes=1))
    start_worker()

    assert services.resend_lost_deliveries() == 1  # the recent one may still be on its way; the old one is stale

    wait_for(lambda: Delivery.objects.filter(pk=lost.pk, status=Delivery.Status.SENT).exists(), what="resent")
    assert [got.signature_ok for got in webhook.received] == [True]
    assert services.resend_lost_deliveries() == 0  # sent: nothing to do again
    assert Delivery.objects.get(pk=recent.pk).status == Delivery.Status.PENDING


def test_tries_of_earlier_messages_count_towards_the_limit(webhook: Webhook) -> None:
    channel, webhook.secret = make_channel(url=f"http://127.0.0.1:{free_port()}/hook")  # nobody listens
    notice = services.test_notice(channel)
    delivery = Delivery.objects.create(
        channel=channel, event=notice.event, dedupe_key="k", subject=notice.subject,
        payload=services.render(channel, notice), attempts=services.MAX_TRIES - 1,
    )  # fmt: skip
    # A resent message's first try is the delivery's last: it fails instead of asking for a retry.
    assert services.attempt_delivery(delivery.pk, final=False) is services.Outcome.FAILED
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, services.MAX_TRIES)
