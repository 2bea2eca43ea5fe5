"""An email delivery can carry a file from storage and go to addresses of its own (a scheduled report does):
sent through a real SMTP server on loopback, received and taken apart as a mail client would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from notifications import services, tasks
from notifications.models import SUBSCRIBABLE, Channel, Delivery, Event
from notifications.tests.support import make_channel

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n% a few bytes that stand for a report\n%%EOF\n"


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def _report_notice() -> services.Notice:
    return services.Notice(Event.REPORT, "Weekly fleet report", ["The report is attached."])


def test_an_email_carries_its_attachment_to_its_own_recipients(
    smtp_server: Any, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    channel, _ = make_channel("mail", kind=Channel.Kind.EMAIL, recipients="everyone@example.invalid", events=[])
    stored = default_storage.save("reports/2026/12/report-1.pdf", ContentFile(PDF))
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.queue_delivery(
            channel,
            _report_notice(),
            "report:1",
            recipients=["ciso@example.invalid", "audit@example.invalid"],
            attachment=stored,
            attachment_name="Fleet report 2026-11-24 to 2026-12-01.pdf",
        )
    assert delivery is not None

    tasks.deliver.apply(args=[delivery.pk])

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (Delivery.Status.SENT, 1, "")
    [(rcpt, message)] = smtp_server.messages
    assert rcpt == ["ciso@example.invalid", "audit@example.invalid"]  # not the channel's own list
    assert message["Subject"] == "Weekly fleet report"
    assert message["X-Dockerbench-Event"] == "report"
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "Fleet report 2026-11-24 to 2026-12-01.pdf"
    assert attachment.get_content() == PDF
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "The report is attached." in body.get_content()
    assert (media / stored).read_bytes() == PDF  # the file stays with its owner


def test_a_delivery_without_addresses_of_its_own_goes_to_the_channels(
    smtp_server: Any, django_capture_on_commit_callbacks: Any
) -> None:
    channel, _ = make_channel("mail", kind=Channel.Kind.EMAIL, recipients="ops@example.invalid", events=[])
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.queue_delivery(channel, _report_notice(), "report:2")
    assert delivery is not None

    tasks.deliver.apply(args=[delivery.pk])

    [(rcpt, message)] = smtp_server.messages
    assert rcpt == ["ops@example.invalid"]
    assert message.get_content_type() == "text/plain"


def test_an_attachment_that_is_gone_fails_the_delivery_at_once(
    smtp_server: Any, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    channel, _ = make_channel("mail", kind=Channel.Kind.EMAIL, recipients="ops@example.invalid", events=[])
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.queue_delivery(
            channel, _report_notice(), "report:3", attachment="reports/pruned.pdf", attachment_name="r.pdf"
        )
    assert delivery is not None

    tasks.deliver.apply(args=[delivery.pk])

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 1)  # no retry: it will not come back
    assert "the attachment reports/pruned.pdf is gone" in delivery.last_error
    assert smtp_server.messages == []


def test_no_channel_subscribes_to_reports_or_tests() -> None:
    offered = {value for value, _ in SUBSCRIBABLE}
    assert Event.REPORT not in offered and Event.TEST not in offered
    assert Event.NEW_FINDINGS in offered
