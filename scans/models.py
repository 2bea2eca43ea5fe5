from __future__ import annotations

import zlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from dockerbench.catalog import SECTIONS
from hosts.models import Host


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
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        USER = "user", "User"
        API = "api", "API"

    FINISHED_STATUSES = frozenset({Status.SUCCEEDED, Status.PARTIAL, Status.FAILED, Status.CANCELLED})
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
    # Which worker claimed it (Celery's name for it and the process id), and how often it was claimed: a scan
    # whose worker died is claimed again, at most twice in all.
    worker = models.CharField(max_length=200, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The Celery task id of the attempt that holds the scan: a retry of the same task resumes its own claim.
    claim = models.CharField(max_length=64, blank=True, default="")
    # Refreshed by the running attempt every few seconds; a stale heartbeat means its worker died.
    heartbeat = models.DateTimeField(null=True, blank=True)
    # When the task message was last sent to the broker, and how often: a lost message is sent again.
    sent_at = models.DateTimeField(null=True, blank=True)
    sends = models.PositiveSmallIntegerField(default=0)
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
        permissions = [
            ("run_scan", "Can start a scan"),
            ("cancel_scan", "Can cancel a queued or running scan"),
            ("view_findings", "Can see findings, their evidence and container drift"),
        ]
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


class LatestScan(models.Model):
    """Each host's newest finished scan with results, so the fleet overview reads one row per host.

    Kept on the scans side (the hosts app knows nothing of scans): a host never scanned has no row.
    """

    host = models.OneToOneField(Host, on_delete=models.CASCADE, primary_key=True, related_name="latest")
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"latest scan of host #{self.host_id}: #{self.scan_id}"

    @staticmethod
    def of(host: Host) -> Scan | None:
        """The host's latest scan (None when it has none), through the row select_related("latest__scan") read."""
        try:
            return host.latest.scan
        except LatestScan.DoesNotExist:
            return None


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
