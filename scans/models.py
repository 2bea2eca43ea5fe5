from __future__ import annotations

import zlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from dockerbench.catalog import SECTIONS
from hosts.models import Host, Tag


def warn_sections_of(summary: object) -> str:
    """The catalog's sections where ``summary`` counts a WARN check, as ",2,5," ("" when none).

    A section is then a substring match (``warn_sections__contains=",5,"``), which SQLite and
    PostgreSQL answer alike; JSON lookups on the summary's numeric keys ("5") do not.
    """
    sections = summary.get("sections") if isinstance(summary, dict) else None
    if not isinstance(sections, dict):
        return ""
    keys = []
    for key in SECTIONS:
        counts = sections.get(key)
        try:
            warn = int(counts.get("WARN") or 0) if isinstance(counts, dict) else 0
        except (TypeError, ValueError):
            warn = 0
        if warn > 0:
            keys.append(key)
    return f",{','.join(keys)}," if keys else ""


class Scan(models.Model):
    """One audit of one host: its lifecycle, progress and summary counts."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"  # finished, but some parts of the host could not be collected
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        USER = "user", "User"
        API = "api", "API"

    FINISHED_STATUSES = frozenset({Status.SUCCEEDED, Status.PARTIAL, Status.FAILED})
    ACTIVE_STATUSES = frozenset({Status.QUEUED, Status.RUNNING})

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="scans")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.USER)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Which worker claimed it, and how often it was claimed (a redelivered task claims again).
    worker = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Live progress while running: {"phase": ..., "done": n, "total": m, "checks_done": k, "checks_total": 117}.
    progress = models.JSONField(default=dict, blank=True)
    # Counts per section and status, plus the score: trend pages read these, never the result rows.
    summary = models.JSONField(default=dict, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    warn_count = models.PositiveIntegerField(default=0)
    # Derived from summary by save(), for the fleet overview's section filter: see warn_sections_of.
    warn_sections = models.CharField(max_length=32, blank=True, default="", editable=False)
    engine_version = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["host", "-created"], name="scan_host_created")]
        constraints = [
            # One scan at a time per host: a second queued/running scan for the same host cannot exist.
            models.UniqueConstraint(
                fields=["host"], condition=Q(status__in=["queued", "running"]), name="scan_one_active_per_host"
            )
        ]

    def __str__(self) -> str:
        return f"{self.host} scan #{self.pk} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # warn_sections follows summary wherever a scan is saved, also with update_fields=["summary", ...].
        self.warn_sections = warn_sections_of(self.summary)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "summary" in update_fields and "warn_sections" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "warn_sections"]
        super().save(*args, **kwargs)

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def duration(self) -> timedelta | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


class ScanSnapshot(models.Model):
    """The engine's raw HostSnapshot of a scan, compressed; kept for re-evaluation, pruned after retention."""

    scan = models.OneToOneField(Scan, on_delete=models.CASCADE, primary_key=True, related_name="raw")
    data = models.BinaryField()  # zlib-compressed JSON
    size = models.PositiveIntegerField(default=0)  # uncompressed bytes

    def __str__(self) -> str:
        return f"snapshot of scan #{self.scan_id} ({self.size} bytes)"

    @classmethod
    def pack(cls, scan: Scan, snapshot_json: str) -> ScanSnapshot:
        raw = snapshot_json.encode("utf-8", "surrogatepass")
        return cls(scan=scan, data=zlib.compress(raw, 6), size=len(raw))

    def unpack(self) -> str:
        return zlib.decompress(bytes(self.data)).decode("utf-8", "surrogatepass")


class CheckResult(models.Model):
    """One row per scan, check and offending object (or the host as a whole), with its evidence."""

    class Status(models.TextChoices):
        PASS = "PASS", "Pass"  # noqa: S105 - a status, not a password
        WARN = "WARN", "Warn"
        INFO = "INFO", "Info"
        NOTE = "NOTE", "Note"
        SKIP = "SKIP", "Skip"
        ERROR = "ERROR", "Error"

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="results")
    seq = models.PositiveIntegerField()  # position in the engine's output, for a stable order
    check_id = models.CharField(max_length=16)
    section = models.CharField(max_length=2)
    status = models.CharField(max_length=8, choices=Status.choices)
    object_kind = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=512, blank=True)
    object_name = models.CharField(max_length=512, blank=True)
    message = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["scan", "seq"]
        constraints = [models.UniqueConstraint(fields=["scan", "seq"], name="checkresult_scan_seq")]
        indexes = [
            models.Index(fields=["scan", "check_id"], name="checkresult_scan_check"),
            models.Index(fields=["check_id", "status"], name="checkresult_check_status"),
        ]

    def __str__(self) -> str:
        return f"{self.check_id} {self.status} {self.object_name}"


class DiffSnapshot(models.Model):
    """What `docker diff` showed for one container in one scan, and what changed since the previous scan."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="diffs")
    container_id = models.CharField(max_length=64)
    container_name = models.CharField(max_length=256)
    image = models.CharField(max_length=512, blank=True)
    running = models.BooleanField(default=True)
    read_only = models.BooleanField(default=False)
    started_at = models.CharField(max_length=40, blank=True)
    labels = models.JSONField(default=dict, blank=True)  # the container's labels: untrusted text from the host
    # [[kind, path], ...] with kind A (added), C (changed) or D (deleted).
    changes = models.JSONField(default=list, blank=True)
    # Changes that are new since this container's previous DiffSnapshot (same container id).
    new_since_previous = models.JSONField(default=list, blank=True)
    # [{"path": ..., "kind": ..., "reason": ...}] for executables in bin/lib dirs, passwd/shadow/sudoers, ...
    suspicious = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)  # why the diff could not be collected

    class Meta:
        ordering = ["container_name"]
        constraints = [models.UniqueConstraint(fields=["scan", "container_id"], name="diffsnapshot_scan_container")]
        indexes = [models.Index(fields=["container_id", "scan"], name="diffsnapshot_container_scan")]

    def __str__(self) -> str:
        return f"{self.container_name} in scan #{self.scan_id}"


class Schedule(models.Model):
    """When to scan: a crontab for one host or for every host with a tag.

    Each schedule owns one django-celery-beat PeriodicTask, kept in step by
    scans.services.sync_schedule, so beat's database scheduler runs it.
    """

    name = models.CharField(max_length=100, unique=True)
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.CASCADE, related_name="schedules")
    tag = models.ForeignKey(Tag, null=True, blank=True, on_delete=models.CASCADE, related_name="schedules")
    minute = models.CharField(max_length=64, default="0")
    hour = models.CharField(max_length=64, default="2")
    day_of_week = models.CharField(max_length=64, default="*")
    day_of_month = models.CharField(max_length=64, default="*")
    month_of_year = models.CharField(max_length=64, default="*")
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(host__isnull=False) & Q(tag__isnull=True)) | (Q(host__isnull=True) & Q(tag__isnull=False)),
                name="schedule_targets_a_host_or_a_tag",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def crontab_text(self) -> str:
        return f"{self.minute} {self.hour} {self.day_of_month} {self.month_of_year} {self.day_of_week}"

    def target_hosts(self) -> models.QuerySet[Host]:
        hosts = Host.objects.filter(enabled=True)
        if self.host_id is not None:
            return hosts.filter(pk=self.host_id)
        return hosts.filter(tags=self.tag_id)
