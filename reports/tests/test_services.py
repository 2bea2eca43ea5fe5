"""Making, failing and pruning reports, in this process, with the real renderer (WeasyPrint) and storage in a
folder of the test's own."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import weasyprint as weasyprint_module
from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from notifications.models import Channel, Delivery
from reports import services
from reports.models import Report, ReportSchedule
from scans.tests.factories import make_host, make_scan

pytestmark = pytest.mark.django_db


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def _fleet(**params: Any) -> Report:
    return services.request_report({"kind": "fleet", **params}, None)


def test_a_fleet_report_is_stored_with_its_pages_size_and_scans(media: Path) -> None:
    scans = [make_scan(make_host("web-1"), warn_by_section={"5": 2}), make_scan(make_host("db-1"))]
    user = User.objects.create_user("alice")
    report = services.request_report({"kind": "fleet"}, user)
    assert (report.status, report.requested_by, report.title.startswith("Fleet report")) == ("queued", user, True)

    made = services.make_report(report.pk)

    assert made is not None and made.status == Report.Status.DONE, made and made.error
    assert made.file.name.startswith("reports/") and made.file.name.endswith(f"report-{report.pk}.pdf")
    stored = media / made.file.name
    assert stored.read_bytes().startswith(b"%PDF") and made.size == stored.stat().st_size
    assert made.pages is not None and made.pages >= 1
    assert sorted(made.scan_ids) == sorted(s.pk for s in scans)
    assert made.progress == {"phase": "done", "done": 1, "total": 1}
    assert made.started is not None and made.finished is not None and made.started <= made.finished
    text = pdf_text(stored)
    assert "web-1" in text and "db-1" in text and "alice" in text


def test_a_report_is_made_once_however_often_its_message_comes(media: Path) -> None:
    report = _fleet()
    assert services.make_report(report.pk) is not None
    first = Report.objects.get(pk=report.pk)

    assert services.make_report(report.pk) is None  # not QUEUED any more: another attempt's (here, done)
    assert Report.objects.get(pk=report.pk).file.name == first.file.name
    assert [p.name for p in (media / first.file.name).parent.iterdir()] == [Path(first.file.name).name]


def test_the_progress_callback_writes_phases_on_the_running_report(media: Path) -> None:
    report = _fleet()
    services.claim_report(report.pk)
    progress = services._ProgressWriter(report.pk)

    progress("Gathering data", 0, 3)
    assert Report.objects.get(pk=report.pk).progress == {"phase": "Gathering data", "done": 0, "total": 3}
    progress("Gathering data", 1, 3)  # the same phase a moment later: not written
    assert Report.objects.get(pk=report.pk).progress["done"] == 0
    progress("Gathering data", 3, 3)  # its end always is
    assert Report.objects.get(pk=report.pk).progress == {"phase": "Gathering data", "done": 3, "total": 3}
    progress("Laying out pages", 0, 1)
    assert Report.objects.get(pk=report.pk).progress["phase"] == "Laying out pages"


def test_a_report_over_the_row_limit_fails_with_the_renderers_words(media: Path, settings: Any) -> None:
    settings.DOCKERBENCH_REPORT_MAX_ROWS = 1
    make_scan(make_host("web-1"))
    make_scan(make_host("web-2"))

    made = services.make_report(_fleet().pk)

    assert made is not None and made.status == Report.Status.FAILED
    assert "the limit is 1 (DOCKERBENCH_REPORT_MAX_ROWS)" in made.error and "Narrow it" in made.error
    assert not made.file and list(media.iterdir()) == []


def test_a_host_report_whose_host_is_gone_fails_saying_so(media: Path) -> None:
    host = make_host("gone-1")
    host_id = host.pk
    report = services.request_report({"kind": "host", "host_id": host_id}, None)
    host.delete()

    made = services.make_report(report.pk)

    assert made is not None and made.status == Report.Status.FAILED
    assert made.error == f"host #{host_id} does not exist (any more)"


def test_parameters_that_do_not_parse_are_refused_before_anything_is_stored() -> None:
    with pytest.raises(ValueError, match="unknown section 9"):
        services.request_report({"kind": "fleet", "sections": ["9"]}, None)
    assert not Report.objects.exists()


def test_storage_that_fails_ends_the_report_failed_not_running(settings: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where MEDIA_ROOT should be a folder")
    settings.MEDIA_ROOT = str(blocker)
    make_scan(make_host("web-1"))

    made = services.make_report(_fleet().pk)

    assert made is not None and made.status == Report.Status.FAILED
    assert made.error.startswith("internal error: ") and "Error" in made.error
    assert made.finished is not None and made.progress == {"phase": "failed"}


@pytest.fixture
def soft_time_limit() -> Iterator[Callable[[], None]]:
    """Arms what the prefork pool does when a task passes its soft limit: a signal whose handler raises
    SoftTimeLimitExceeded in the task's thread. (The tests' workers use the solo pool, which has no time
    limits.) It fires while WeasyPrint lays the pages out, where a long report spends its time, and not in
    the middle of a query, which would break the test's transaction rather than the report."""
    weasyprint = os.path.dirname(weasyprint_module.__file__)

    def handler(signum: int, frame: FrameType | None) -> None:
        while frame is not None:
            if frame.f_code.co_filename.startswith(weasyprint):
                raise SoftTimeLimitExceeded()
            frame = frame.f_back
        signal.setitimer(signal.ITIMER_REAL, 0.002)  # not laying out yet: again in a moment

    def arm() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0.002)

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        yield arm
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_report_past_its_time_limit_ends_failed_saying_so(
    media: Path, settings: Any, soft_time_limit: Callable[[], None]
) -> None:
    make_scan(make_host("web-1"))
    report = _fleet()
    settings.DOCKERBENCH_REPORT_TIME_LIMIT = 600

    soft_time_limit()
    made = services.make_report(report.pk)

    assert made is not None and made.status == Report.Status.FAILED
    assert made.error == "the report took longer than 600 s and was stopped"
    assert not made.file and list(media.rglob("*.pdf")) == []


def test_a_running_report_whose_worker_died_is_failed_by_the_reaper(settings: Any) -> None:
    settings.DOCKERBENCH_REPORT_TIME_LIMIT = 60
    dead, alive = _fleet(), _fleet()
    services.claim_report(dead.pk)
    services.claim_report(alive.pk)
    Report.objects.filter(pk=dead.pk).update(started=timezone.now() - timedelta(minutes=10))

    assert services.reap_reports() == {"failed": 1, "resent": 0}

    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == Report.Status.FAILED and "the worker stopped while making it" in dead.error
    assert alive.status == Report.Status.RUNNING


# -- retention ------------------------------------------------------------------------------------------


def _done(media: Path, name: str, *, days_old: int) -> Report:
    report = Report.objects.create(kind="fleet", params={"kind": "fleet"}, title=name, status="done")
    report.file.save(f"{name}.pdf", ContentFile(b"%PDF-1.7\n%%EOF\n"))
    Report.objects.filter(pk=report.pk).update(created=timezone.now() - timedelta(days=days_old))
    return report


def _age(media: Path, name: str, days: int) -> None:
    when = (timezone.now() - timedelta(days=days)).timestamp()
    os.utime(media / name, (when, when))


def test_pruning_deletes_reports_past_retention_and_their_files(media: Path, settings: Any) -> None:
    settings.DOCKERBENCH_REPORT_RETENTION_DAYS = 30
    old, kept = _done(media, "old", days_old=31), _done(media, "kept", days_old=29)
    old_file = media / old.file.name

    assert services.prune_reports() == {"reports": 1, "orphans": 0}

    assert list(Report.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not old_file.exists() and (media / kept.file.name).exists()
    assert services.prune_reports() == {"reports": 0, "orphans": 0}  # nothing left to do


def test_pruning_deletes_files_no_report_names_once_a_day_old(media: Path) -> None:
    kept = _done(media, "kept", days_old=1)
    orphan = default_storage.save("reports/2026/01/report-999.pdf", ContentFile(b"%PDF"))
    fresh = default_storage.save("reports/2026/01/report-1000.pdf", ContentFile(b"%PDF"))  # its row may be coming
    attached = default_storage.save("reports/2026/01/mailed.pdf", ContentFile(b"%PDF"))
    channel = Channel.objects.create(name="mail", kind=Channel.Kind.EMAIL, recipients="a@example.invalid")
    Delivery.objects.create(channel=channel, event="report", dedupe_key="r", subject="s", attachment=attached)
    for name in (orphan, attached, kept.file.name):
        _age(media, name, days=2)

    assert services.prune_reports() == {"reports": 0, "orphans": 1}

    assert not (media / orphan).exists()
    assert (media / fresh).exists() and (media / attached).exists() and (media / kept.file.name).exists()


def test_deleting_a_report_deletes_its_file(media: Path, django_capture_on_commit_callbacks: Any) -> None:
    report = _done(media, "gone", days_old=0)
    path = media / report.file.name
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_report(report)
    assert not path.exists() and not Report.objects.exists()


def test_a_schedule_without_a_channel_makes_its_report_and_mails_nothing(media: Path) -> None:
    make_scan(make_host("web-1"))
    schedule = services.save_schedule(ReportSchedule(name="weekly", recipients="ciso@example.invalid"))

    report = services.run_schedule(schedule.pk, run_key="beat-1")

    assert report is not None and report.status == Report.Status.DONE and report.schedule == schedule
    assert not Delivery.objects.exists()
