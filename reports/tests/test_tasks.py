"""The tasks on a real Celery worker (Redis, a worker subprocess on this session's queue), the renderer and a
real SMTP server on loopback: a report asked for is made, and a schedule's report arrives as a PDF attachment."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from notifications.models import Channel, Delivery
from reports import services, tasks
from reports.models import Report, ReportSchedule
from scans.tests.factories import make_host, make_scan
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_makes_the_report_asked_for(media: Path, start_worker: Any) -> None:
    make_scan(make_host("web-1"))
    start_worker()

    report = services.request_report({"kind": "fleet"}, None)  # no transaction here: its task is sent at once

    wait_for(
        lambda: Report.objects.filter(pk=report.pk, status__in=["done", "failed"]).exists(), timeout=60, what="report"
    )
    report.refresh_from_db()
    assert report.status == Report.Status.DONE, report.error
    assert (media / report.file.name).read_bytes().startswith(b"%PDF")


def test_a_schedule_mails_its_report_once_even_when_beat_sends_twice(
    media: Path, worker_mail: Any, start_worker: Any, tmp_path: Path
) -> None:
    make_scan(make_host("web-1", tags=("prod",)))
    make_scan(make_host("db-1", tags=("prod",)))
    make_scan(make_host("elsewhere-1"))
    channel = Channel.objects.create(name="mail", kind=Channel.Kind.EMAIL, recipients="ops@example.invalid")
    schedule = services.save_schedule(
        ReportSchedule(
            name="Weekly prod",
            tag=make_host("spare", tags=("prod",)).tags.get(),
            recipients="ciso@example.invalid, audit@example.invalid",
            channel=channel,
            period_days=7,
        )
    )
    start_worker()

    # One beat message delivered twice (acks_late after a lost ack): the same task id both times.
    message_id = str(uuid.uuid4())
    tasks.run_schedule.apply_async(args=[schedule.pk], task_id=message_id)
    tasks.run_schedule.apply_async(args=[schedule.pk], task_id=message_id)

    wait_for(lambda: Delivery.objects.filter(status="sent").exists(), timeout=90, what="the mail")
    wait_for(lambda: len(worker_mail.messages) >= 1, what="the SMTP server to get it")
    [report] = Report.objects.all()
    assert (report.schedule, report.run_key, report.status) == (schedule, message_id, Report.Status.DONE)
    [delivery] = Delivery.objects.all()
    assert (delivery.channel, delivery.event, delivery.dedupe_key) == (channel, "report", f"report:{report.pk}")
    [(rcpt, message)] = worker_mail.messages
    assert rcpt == ["ciso@example.invalid", "audit@example.invalid"]
    assert message["Subject"].startswith("Fleet report, tag prod")
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == report.download_name
    pdf = tmp_path / "mailed.pdf"
    pdf.write_bytes(attachment.get_content())
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert "web-1" in text and "db-1" in text and "elsewhere-1" not in text
    assert pdf.read_bytes() == (media / report.file.name).read_bytes()
