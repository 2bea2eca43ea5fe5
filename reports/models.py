from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from auditlog.registry import auditlog
from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from django_celery_beat import validators

from hosts.models import Tag
from notifications.models import Channel, recipient_list, validate_recipients
from reports.documents import ReportRequest

# A crontab expression's five fields, in cron's order, and the names beat's CrontabSchedule gives them.
CRONTAB_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
_FIELD_VALIDATORS = (
    validators.minute_validator,
    validators.hour_validator,
    validators.day_of_month_validator,
    validators.month_of_year_validator,
    validators.day_of_week_validator,
)


def crontab_fields(expression: str) -> dict[str, str]:
    """The five fields of a crontab expression by name; ValueError when it does not have five."""
    parts = expression.split()
    if len(parts) != len(CRONTAB_FIELDS):
        raise ValueError("a crontab has five fields: minute hour day-of-month month day-of-week, e.g. 0 6 * * 1")
    return dict(zip(CRONTAB_FIELDS, parts, strict=True))


def validate_crontab(expression: str) -> None:
    """A crontab beat can parse, field by field as django-celery-beat's admin does, and that can ever fire."""
    try:
        fields = crontab_fields(expression)
    except ValueError as exc:
        raise ValidationError(str(exc).capitalize() + ".", code="crontab") from exc
    for (name, value), check in zip(fields.items(), _FIELD_VALIDATORS, strict=True):
        try:
            check(value)
        except ValidationError as exc:
            raise ValidationError(f"{name.replace('_', ' ')}: {exc.messages[0]}", code="crontab") from exc
    try:
        # Fields that parse one by one can still never meet (30 February): have beat's parser find the next run.
        crontab(**fields).remaining_estimate(timezone.localtime())
    except (ValueError, RuntimeError) as exc:
        raise ValidationError(f"This crontab would never run: {exc}", code="crontab") from exc


def report_upload_to(instance: Report, filename: str) -> str:
    return f"reports/{timezone.now():%Y/%m}/{filename}"


class ReportSchedule(models.Model):
    """A report made on a crontab and mailed as a PDF: the whole fleet or one tag, the last ``period_days`` days.

    It goes to its own addresses through an email notification channel (the channel's mail settings, its
    delivery log and retries). Each schedule owns one django-celery-beat PeriodicTask, kept in step by
    reports.services.save_schedule; the task goes when the schedule does.
    """

    name = models.CharField(max_length=100, unique=True)
    # CASCADE, not SET_NULL: a schedule for a tag that is gone must not widen to the whole fleet by itself.
    tag = models.ForeignKey(
        Tag,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="report_schedules",
        help_text="Only the hosts with this tag; none: the whole fleet.",
    )
    sections = models.JSONField(default=list, blank=True)  # catalog section keys; empty: every section
    period_days = models.PositiveSmallIntegerField(
        "period (days)",
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text="Each report covers the days up to the one it is made on.",
    )
    crontab = models.CharField(
        max_length=100,
        default="0 6 * * 1",
        validators=[validate_crontab],
        help_text="minute hour day-of-month month day-of-week, server time: 0 6 * * 1 is Monday 06:00.",
    )
    recipients = models.TextField(validators=[validate_recipients], help_text="Email addresses, separated by commas.")
    # SET_NULL: deleting a channel must not delete schedules; one without a channel makes its report, unmailed.
    channel = models.ForeignKey(
        Channel,
        null=True,
        on_delete=models.SET_NULL,
        limit_choices_to={"kind": Channel.Kind.EMAIL},
        related_name="report_schedules",
        help_text="The email channel it is sent through (its deliveries show there).",
    )
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def recipient_list(self) -> list[str]:
        return recipient_list(self.recipients)

    @property
    def scope_text(self) -> str:
        return f"hosts tagged {self.tag.name}" if self.tag is not None else "the whole fleet"

    def crontab_fields(self) -> dict[str, str]:
        return crontab_fields(self.crontab)

    def next_run(self, now: datetime | None = None) -> datetime | None:
        """When beat will next run it, in the server's time zone (None: paused)."""
        if not self.enabled:
            return None
        now = timezone.localtime(now)
        try:
            cron = crontab(**self.crontab_fields())
        except ValueError:
            return None
        # remaining_estimate counts from its own idea of now; measure from ours, one consistent time per page.
        cron.nowfun = lambda: now
        return now + cron.remaining_estimate(now)

    def report_request(self, until: date) -> ReportRequest:
        """What the schedule asks for when it runs on ``until``: ``period_days`` days, ``until`` the last of them
        (both ends count), so weekly reports meet without overlapping."""
        return ReportRequest(
            kind=Report.Kind.FLEET,
            tag=self.tag.name if self.tag is not None else "",
            since=until - timedelta(days=self.period_days - 1),
            until=until,
            sections=tuple(self.sections or ()),
        )


class Report(models.Model):
    """A PDF report of the fleet or one host, stored on Django's storage, made on a worker.

    ``params`` is the ReportRequest it was asked with (reports.documents), ``progress`` what the renderer last
    said ({phase, done, total}), ``scan_ids`` the scans it was made from.
    """

    class Kind(models.TextChoices):
        FLEET = "fleet", "Fleet"
        HOST = "host", "One host"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    params = models.JSONField(default=dict)
    title = models.CharField(max_length=300)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    file = models.FileField(upload_to=report_upload_to, max_length=300, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)  # bytes
    pages = models.PositiveIntegerField(null=True, blank=True)
    scan_ids = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    schedule = models.ForeignKey(
        ReportSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    # A schedule's run: the beat message's task id, so a message delivered twice makes one report and one mail.
    run_key = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        # Requesting is not "add_": a Viewer may ask for one (it shows only what a Viewer sees anyway), while
        # the Viewers role holds no add/change/delete permission at all.
        permissions = [("request_report", "Can request a report")]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "run_key"], condition=~Q(run_key=""), name="report_once_per_schedule_run"
            )
        ]
        indexes = [models.Index(fields=["created"], name="report_created")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def download_name(self) -> str:
        return f"{slugify(self.title)[:150] or 'report'}.pdf"

    def parameters(self) -> ReportRequest | None:
        """The parameters as a ReportRequest, or None when they no longer parse (an older version's)."""
        try:
            return ReportRequest.from_params(self.params)
        except ValueError:
            return None

    def progress_percent(self) -> int | None:
        p: dict[str, Any] = self.progress or {}
        total, done = p.get("total") or 0, p.get("done") or 0
        return min(100, round(100 * done / total)) if total else None


auditlog.register(ReportSchedule, exclude_fields=["periodic_task"])
# Who asked for which report and who deleted it; its progress is not a change anyone made.
auditlog.register(Report, exclude_fields=["progress", "started", "finished", "size", "pages", "scan_ids", "file"])
