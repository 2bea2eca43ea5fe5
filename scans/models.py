from __future__ import annotations

import zlib
from datetime import date, timedelta
from typing import Any

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

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
    waived = waived_sections_of(summary)
    keys = []
    for key in SECTIONS:
        counts = sections.get(key)
        try:
            warn = int(counts.get("WARN") or 0) if isinstance(counts, dict) else 0
        except (TypeError, ValueError):
            warn = 0
        if warn - waived.get(key, 0) > 0:
            keys.append(key)
    return f",{','.join(keys)}," if keys else ""


def waived_sections_of(summary: object) -> dict[str, int]:
    """WARN checks per section whose every WARN finding is waived (summary["waived"]["sections"])."""
    waived = summary.get("waived") if isinstance(summary, dict) else None
    sections = waived.get("sections") if isinstance(waived, dict) else None
    out: dict[str, int] = {}
    for key, n in (sections or {}).items() if isinstance(sections, dict) else ():
        try:
            out[str(key)] = int(n)
        except (TypeError, ValueError):
            continue
    return out


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
        PUSH = "push", "Pushed by the host"  # python -m dockerbench --push, with the host's push token
        IMPORT = "import", "Imported from docker-bench"  # docker-bench-security's JSON log, uploaded

    FINISHED_STATUSES = frozenset({Status.SUCCEEDED, Status.PARTIAL, Status.FAILED, Status.CANCELLED})
    # Finished with results and a score (a partial scan judged what it could collect).
    SCORED_STATUSES = frozenset({Status.SUCCEEDED, Status.PARTIAL})
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
    # Times it was queued again because its host did not answer (scans.services.UNREACHABLE_RETRIES).
    retries = models.PositiveSmallIntegerField(default=0)
    sends = models.PositiveSmallIntegerField(default=0)
    # Live progress while running: {"phase": ..., "done": n, "total": m, "checks_done": k, "checks_total": 117}.
    progress = models.JSONField(default=dict, blank=True)
    # Counts per section and status, plus the score: trend pages read these, never the result rows.
    summary = models.JSONField(default=dict, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    warn_count = models.PositiveIntegerField(default=0)
    # Derived from summary by save(), for the fleet overview's section filter: see warn_sections_of.
    warn_sections = models.CharField(max_length=32, blank=True, default="", editable=False)
    # The same with the waivers in force (scans.waivers keeps them in step for each host's latest scan; an
    # older scan keeps what applied when it was the latest): the score with waived checks left out of the
    # judged ones, and how many WARN checks had every WARN finding waived.
    waived_score = models.PositiveSmallIntegerField(null=True, blank=True)
    waived_checks = models.PositiveIntegerField(default=0)
    engine_version = models.CharField(max_length=32, blank=True)
    # sha256 of what a pushed or imported scan was made from: the same upload twice makes one scan.
    source_digest = models.CharField(max_length=64, blank=True, default="", editable=False)

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
            ),
            models.UniqueConstraint(
                fields=["host", "source_digest"], condition=~Q(source_digest=""), name="scan_source_once_per_host"
            ),
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

    def reported(self) -> models.QuerySet[Sighting]:
        """Everything this scan reported, one row per check and object (Sighting.at)."""
        return Sighting.at(self)

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


class FleetDay(models.Model):
    """The fleet's scored scans of one UTC day, added up (scans.rollups): what fleet-wide trends read."""

    day = models.DateField(primary_key=True)
    scans = models.PositiveIntegerField(default=0)
    score_sum = models.PositiveBigIntegerField(default=0)
    warn = models.JSONField(default=dict)  # CIS section -> WARN checks summed over the day's scans

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.scans} scans"

    @property
    def mean(self) -> int | None:
        return round(self.score_sum / self.scans) if self.scans else None


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


class Status(models.TextChoices):
    """What one check said about one object in one scan (dockerbench.results.Status)."""

    PASS = "PASS", "Pass"  # noqa: S105 - a status, not a password
    WARN = "WARN", "Warn"
    INFO = "INFO", "Info"
    NOTE = "NOTE", "Note"
    SKIP = "SKIP", "Skip"
    ERROR = "ERROR", "Error"


class Finding(models.Model):
    """One (host, check, object) across scans: its identity, and the life of the problem it names.

    The object's part of the identity is ``object_key`` (dockerbench.waivers.object_key): a container's name,
    an image's repo:tag (its id when untagged), a file's path, a setting's value; "" for a verdict on the host
    as a whole; ``detail`` tells apart several findings on one object. A container recreated with the same
    name is the same finding. What each scan reported is in Sighting; each stretch of
    time the finding was open (WARN) is an Episode.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"  # the latest scan that judged it said WARN
        FIXED = "fixed", "Fixed"  # it was WARN; a later successful scan no longer reported it as WARN
        CLEAN = "clean", "Never WARN"  # a PASS, INFO, NOTE, SKIP or ERROR that never was a problem

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="findings")
    check_id = models.CharField(max_length=16)
    section = models.CharField(max_length=2)
    object_kind = models.CharField(max_length=32, blank=True)
    object_key = models.CharField(max_length=512, blank=True)
    # Two findings of one check on one object (S.1: each secret variable of a container) differ here:
    # dockerbench.waivers.finding_detail; "" for most checks.
    detail = models.CharField(max_length=220, blank=True, default="")
    # The latest sighting's status and names, for lists that do not read the sightings.
    status = models.CharField(max_length=8, choices=Status.choices)
    object_name = models.CharField(max_length=512, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.CLEAN)
    first_seen = models.DateTimeField()  # the first scan that reported it, whatever it said
    last_seen = models.DateTimeField()  # the latest scan that reported it
    opened = models.DateTimeField(null=True, blank=True)  # when the current (or last) episode began
    fixed = models.DateTimeField(null=True, blank=True)  # when the last episode ended; None while open
    reopened = models.PositiveIntegerField(default=0)  # episodes after the first
    # The active waiver that covers it (scans.waivers keeps this in step), None when none does.
    waiver = models.ForeignKey("Waiver", null=True, blank=True, on_delete=models.SET_NULL, related_name="findings")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["host", "check_id", "object_kind", "object_key", "detail"], name="finding_detail_identity"
            )
        ]
        indexes = [
            models.Index(fields=["state", "check_id"], name="finding_state_check"),
            models.Index(fields=["host", "state"], name="finding_host_state"),
        ]

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.check_id} {self.object_kind} {self.object_key or '(host)'}{detail} on host #{self.host_id}"

    @property
    def waived(self) -> bool:
        return self.state == self.State.OPEN and self.waiver_id is not None


class Sighting(models.Model):
    """What scans reported about a finding, unchanged, from scan ``since`` up to (not including) ``until``.

    Scan ids grow with time and a host runs one scan at a time, so "what scan S reported" is the host's
    sightings with since <= S < until (until None: still reported by the host's latest scan). A new row is
    written only when what is reported changes (status, message, evidence, names) or after a gap; a nightly
    scan that sees the same thing writes nothing here. Scan ids are plain numbers, not foreign keys: a
    sighting outlives nothing (the host's deletion cascades), and ``until`` may name a scan not yet made.
    """

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+")
    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="sightings")
    since = models.PositiveBigIntegerField()
    until = models.PositiveBigIntegerField(null=True, blank=True)
    seq = models.PositiveIntegerField()  # position in the engine's output of scan ``since``, for a stable order
    check_id = models.CharField(max_length=16)
    section = models.CharField(max_length=2)
    status = models.CharField(max_length=8, choices=Status.choices)
    object_kind = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=512, blank=True)
    object_name = models.CharField(max_length=512, blank=True)
    message = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["host", "since"], name="sighting_host_since"),
            models.Index(fields=["host", "check_id"], name="sighting_current", condition=Q(until__isnull=True)),
            models.Index(fields=["finding", "since"], name="sighting_finding_since"),
        ]

    def __str__(self) -> str:
        return f"{self.check_id} {self.status} {self.object_name} (scans {self.since}..{self.until or ''})"

    @staticmethod
    def at(scan: Scan) -> models.QuerySet[Sighting]:
        """Everything ``scan`` reported (nothing for a scan without results: queued, failed, cancelled)."""
        return Sighting.objects.filter(host_id=scan.host_id, since__lte=scan.pk).filter(
            Q(until__isnull=True) | Q(until__gt=scan.pk)
        )


class Episode(models.Model):
    """One stretch of time a finding was open: from the scan that reported it WARN to the one that saw it fixed.

    Open at scan S: opened_scan <= S < fixed_scan (fixed_scan None: still open). Time to remediate is
    fixed - opened. host and section are the finding's, copied so the remediation statistics read one table.
    """

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="episodes")
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+")
    section = models.CharField(max_length=2)
    opened_scan = models.PositiveBigIntegerField()
    opened = models.DateTimeField()
    fixed_scan = models.PositiveBigIntegerField(null=True, blank=True)
    fixed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["opened"]
        indexes = [
            models.Index(fields=["host", "opened_scan"], name="episode_host_opened"),
            models.Index(fields=["fixed"], name="episode_fixed"),
        ]

    def __str__(self) -> str:
        return f"episode of finding #{self.finding_id} from scan {self.opened_scan} to {self.fixed_scan or 'now'}"

    @staticmethod
    def open_at(scan: Scan) -> models.QuerySet[Episode]:
        """The episodes open on the host at ``scan``: what was open there then."""
        return Episode.objects.filter(host_id=scan.host_id, opened_scan__lte=scan.pk).filter(
            Q(fixed_scan__isnull=True) | Q(fixed_scan__gt=scan.pk)
        )


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


class Waiver(models.Model):
    """An accepted risk: one check, everywhere, on hosts with a tag, on one host, or on some objects of one host.

    Waived findings stay visible as WAIVED with their waiver; they count neither in the score nor in the WARN
    totals. A waiver applies until the start of its expiry day (UTC) or until it is revoked, to the findings
    in its scope at that time and to those that appear later. scans.waivers keeps Finding.waiver in step.
    """

    check_id = models.CharField(max_length=16)
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.CASCADE, related_name="waivers")
    tag = models.ForeignKey(Tag, null=True, blank=True, on_delete=models.CASCADE, related_name="waivers")
    # fnmatch pattern on Finding.object_key ("legacy-*"), with a host only; "" for every object.
    object_pattern = models.CharField(max_length=512, blank=True)
    reason = models.TextField()
    owner = models.CharField(max_length=200)
    ticket = models.URLField(max_length=500, blank=True)
    expires = models.DateField()
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["expires", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(host__isnull=True) | Q(tag__isnull=True), name="waiver_host_or_tag"),
            models.CheckConstraint(
                condition=Q(object_pattern="") | Q(host__isnull=False), name="waiver_object_needs_host"
            ),
        ]

    def __str__(self) -> str:
        return f"waiver #{self.pk}: {self.check_id} {self.scope_text}"

    @property
    def scope_text(self) -> str:
        if self.object_pattern:
            return f"objects matching {self.object_pattern!r} on {self.host}"
        if self.host_id is not None:
            return f"on {self.host}"
        if self.tag_id is not None:
            return f"on hosts tagged {self.tag}"
        return "on every host"

    def is_active(self, today: date | None = None) -> bool:
        today = today or timezone.now().date()
        return self.revoked is None and self.expires > today

    @property
    def specificity(self) -> int:
        """When several waivers cover a finding, the most specific one is shown: object > host > tag > all."""
        return 3 if self.object_pattern else 2 if self.host_id else 1 if self.tag_id else 0


class WaiverPolicy(models.Model):
    """The Admin's limit on how far ahead a waiver may expire (one row, pk 1)."""

    max_days = models.PositiveIntegerField(default=365, help_text="The longest a waiver may run, in days.")

    class Meta:
        verbose_name_plural = "waiver policy"

    def __str__(self) -> str:
        return f"waivers expire within {self.max_days} days"

    @classmethod
    def current(cls) -> WaiverPolicy:
        return cls.objects.get_or_create(pk=1)[0]


auditlog.register(Waiver)
auditlog.register(WaiverPolicy)
