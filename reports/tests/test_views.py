"""The Reports page, a report's page and its progress partial, the download, deleting, and report schedules:
through the test client as the personas, htmx requests sent with htmx's headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from notifications.models import Channel
from reports.models import Report, ReportSchedule
from scans.tests.factories import make_host
from tests.personas import HX, persona_client

pytestmark = pytest.mark.django_db


def _report(status: str = "queued", **fields: Any) -> Report:
    fields = {"kind": "fleet", "params": {"kind": "fleet"}, "title": "Fleet report, 2026-11-01 to 2026-12-01", **fields}
    return Report.objects.create(status=status, **fields)


def _done(media: Path) -> Report:
    report = _report("done", pages=3, size=15, scan_ids=[1])
    report.file.save("r.pdf", ContentFile(b"%PDF-1.7\n%%EOF\n"))
    return report


def test_the_form_is_prefilled_from_the_query_string_as_the_host_page_links_it() -> None:
    host = make_host("web-1")
    page = persona_client("viewer").get(
        reverse("reports:list"), {"kind": "host", "host": str(host.pk), "sections": "5"}
    )
    body = page.content.decode()
    assert page.status_code == 200
    assert f'<option value="{host.pk}" selected>web-1</option>' in body
    assert '<option value="host" selected>One host</option>' in body
    assert 'name="sections" value="5" id="id_sections_4" checked>' in body
    assert body.count("checked>") == 1


def test_asking_for_a_report_queues_it_and_opens_its_page(django_capture_on_commit_callbacks: Any) -> None:
    host = make_host("web-1")
    client = persona_client("viewer")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client.post(
            reverse("reports:request"),
            {"kind": "host", "host": host.pk, "since": "2026-11-01", "until": "2026-11-30", "sections": ["5", "1"]},
        )
    [report] = Report.objects.all()
    assert response.status_code == 302 and response["Location"] == reverse("reports:report", args=[report.pk])
    assert report.params == {
        "kind": "host",
        "host_id": host.pk,
        "tag": "",
        "since": "2026-11-01",
        "until": "2026-11-30",
        "sections": ["1", "5"],
    }
    assert report.requested_by is not None
    assert (report.status, report.requested_by.username) == ("queued", "viewer")
    assert report.title == "Host report, web-1, sections 1, 5, 2026-11-01 to 2026-11-30"
    assert len(sent) == 1  # its task, once the row is committed


def test_a_wrong_form_says_what_is_wrong_next_to_the_field() -> None:
    client = persona_client("viewer")
    response = client.post(reverse("reports:request"), {"kind": "host", "since": "2026-12-01", "until": "2026-11-01"})
    body = response.content.decode()
    assert response.status_code == 200 and not Report.objects.exists()
    host_field = body.split('for="id_host"', 1)[1].split('<div class="field">', 1)[0]
    assert "Choose the host to report on." in host_field
    until_field = body.split('for="id_until"', 1)[1].split('<div class="field">', 1)[0]
    assert "The end comes before the start." in until_field

    partial = client.post(reverse("reports:request"), {"kind": "host"}, headers=HX).content.decode()
    assert partial.lstrip().startswith('<form id="report-form"') and "<html" not in partial


def test_a_report_being_made_polls_and_links_to_itself_without_javascript() -> None:
    report = _report("running", progress={"phase": "Laying out pages", "done": 1, "total": 4})
    client = persona_client("viewer")
    url = reverse("reports:report", args=[report.pk])

    full = client.get(url).content.decode()
    assert f'hx-get="{url}" hx-trigger="every 2s"' in full
    assert f'<a href="{url}">Refresh</a>' in full

    partial = client.get(url, headers=HX)
    body = partial.content.decode()
    assert partial.status_code == 200 and body.lstrip().startswith('<section id="report-progress"')
    assert "Laying out pages" in body and '<progress max="4" value="1">' in body


def test_a_finished_report_stops_the_polling_with_its_download_link(media: Path) -> None:
    report = _done(media)
    response = persona_client("viewer").get(reverse("reports:report", args=[report.pk]), headers=HX)
    body = response.content.decode()
    assert response.status_code == 286  # htmx stops polling
    assert "hx-trigger" not in body
    assert f'href="{reverse("reports:download", args=[report.pk])}"' in body and "3 pages" in body


def test_a_failed_report_stops_the_polling_and_says_why() -> None:
    report = _report("failed", error="This report would have 30,000 rows")
    response = persona_client("viewer").get(reverse("reports:report", args=[report.pk]), headers=HX)
    assert response.status_code == 286 and "This report would have 30,000 rows" in response.content.decode()


def test_the_download_is_the_pdf_named_after_the_title(media: Path) -> None:
    report = _done(media)
    response = persona_client("viewer").get(reverse("reports:download", args=[report.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="fleet-report-2026-11-01-to-2026-12-01.pdf"'
    assert b"".join(response.streaming_content) == b"%PDF-1.7\n%%EOF\n"  # type: ignore[attr-defined]


def test_there_is_nothing_to_download_before_the_report_is_done(media: Path) -> None:
    client = persona_client("viewer")
    for report in (_report("queued"), _report("running"), _report("failed", error="no")):
        assert client.get(reverse("reports:download", args=[report.pk])).status_code == 404
    gone = _done(media)
    (media / gone.file.name).unlink()
    assert client.get(reverse("reports:download", args=[gone.pk])).status_code == 404


def test_the_list_shows_who_asked_what_and_offers_delete_only_to_operators(media: Path) -> None:
    host = make_host("web-1")
    _done(media)
    _report("failed", params={"kind": "host", "host_id": host.pk}, kind="host", error="too large")
    viewer = persona_client("viewer").get(reverse("reports:list")).content.decode()
    assert "Fleet report, 2026-11-01 to 2026-12-01" in viewer and "15\xa0bytes" in viewer
    assert f'<a href="{reverse("scans:host", args=[host.pk])}">web-1</a>' in viewer and "too large" in viewer
    assert "Download" in viewer and 'action="/reports/' not in viewer.split("report-table", 1)[1]
    operator = persona_client("operator").get(reverse("reports:list")).content.decode()
    assert operator.count(">Delete</button>") == 2


def test_an_operator_deletes_a_report_and_its_file(media: Path, django_capture_on_commit_callbacks: Any) -> None:
    report = _done(media)
    path = media / report.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = persona_client("operator").post(reverse("reports:delete", args=[report.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("reports:list")
    assert not Report.objects.exists() and not path.exists()


def test_an_admin_adds_a_report_schedule_and_beat_gets_its_task() -> None:
    mail = Channel.objects.create(name="mail", kind=Channel.Kind.EMAIL, recipients="ops@example.invalid")
    client = persona_client("admin")
    data = {
        "name": "Weekly",
        "period_days": "7",
        "crontab": "0 6 * * 1",
        "recipients": "ciso@example.invalid",
        "channel": mail.pk,
        "enabled": "on",
        "sections": ["5"],
    }
    response = client.post(reverse("reports:schedule-add"), data)
    assert response.status_code == 302 and response["Location"] == reverse("reports:schedules")
    schedule = ReportSchedule.objects.get()
    assert schedule.sections == ["5"] and PeriodicTask.objects.filter(pk=schedule.periodic_task_id).exists()
    listed = client.get(reverse("reports:schedules")).content.decode()
    assert "ciso@example.invalid" in listed and "<code>0 6 * * 1</code>" in listed

    client.post(reverse("reports:schedule-delete", args=[schedule.pk]))
    assert not ReportSchedule.objects.exists() and not PeriodicTask.objects.filter(task__startswith="reports.").exists()


def test_a_bad_crontab_is_shown_next_to_its_field() -> None:
    response = persona_client("admin").post(reverse("reports:schedule-add"), {"name": "x", "crontab": "0 6 * *"})
    body = response.content.decode()
    assert response.status_code == 200 and not ReportSchedule.objects.exists()
    crontab_field = body.split('for="id_crontab"', 1)[1].split('<div class="field">', 1)[0]
    assert "A crontab has five fields" in crontab_field
