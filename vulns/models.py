"""Image vulnerability reports, the images each host runs, and the CVEs accepted as risks.

A report is about an image, not a host: it is keyed by the image's digests (ImageReportKey, one current
report per key), and the images a host ran at its latest scan (HostImage) carry the same digests, so one
report covers that image wherever it runs. docs/vulnerabilities.md describes the whole.
"""

from __future__ import annotations

from datetime import date
from fnmatch import fnmatchcase

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.utils import timezone

from dockerbench.vulns import SEVERITIES, Severity
from hosts.models import Host

SEVERITY_RANK = {s.value: i for i, s in enumerate(SEVERITIES)}  # 0 is the worst


class ImageReport(models.Model):
    """What one scanner found in one image: the current report for each of its digests."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        API = "api", "API"
        PUSH = "push", "Pushed with a scan"
        LOOKUP = "lookup", "Live lookup"

    scanner = models.CharField(max_length=16)  # dockerbench.vulns.SCANNERS
    scanner_version = models.CharField(max_length=1000, blank=True)
    image_id = models.CharField(max_length=200, blank=True)  # sha256:... of the config; "" when not given
    digests = models.JSONField(default=list)  # manifest digests, sha256:...
    tags = models.JSONField(default=list)
    artifact = models.TextField(blank=True)  # what the scanner was pointed at
    scanned_at = models.DateTimeField(null=True, blank=True)  # from the report, when it says
    received = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=8, choices=Source.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    critical = models.PositiveIntegerField(default=0)
    high = models.PositiveIntegerField(default=0)
    medium = models.PositiveIntegerField(default=0)
    low = models.PositiveIntegerField(default=0)
    negligible = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    fixable_critical = models.PositiveIntegerField(default=0)  # CRITICAL with a fixed version
    fixable_high = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received", "-id"]
        permissions = [("upload_imagereport", "Can upload image vulnerability reports")]

    def __str__(self) -> str:
        return f"{self.scanner} report of {self.name}"

    @property
    def name(self) -> str:
        """What people call the image: a tag, else what was scanned, else a short digest."""
        tags = self.tags if isinstance(self.tags, list) else []
        first = self.image_id or (self.digests[0] if self.digests else "")
        return str(tags[0]) if tags else self.artifact or first[:19]

    @property
    def keys(self) -> list[str]:
        return [k for k in [self.image_id, *self.digests] if k]

    def counts(self) -> dict[str, int]:
        return {
            Severity.CRITICAL: self.critical,
            Severity.HIGH: self.high,
            Severity.MEDIUM: self.medium,
            Severity.LOW: self.low,
            Severity.NEGLIGIBLE: self.negligible,
            Severity.UNKNOWN: self.unknown,
        }


class ImageReportKey(models.Model):
    """One digest of a report's image. Unique: a digest has one current report."""

    report = models.ForeignKey(ImageReport, on_delete=models.CASCADE, related_name="key_rows")
    key = models.CharField(max_length=200, unique=True)

    def __str__(self) -> str:
        return self.key


class Vulnerability(models.Model):
    """One vulnerability of one package in a report's image."""

    report = models.ForeignKey(ImageReport, on_delete=models.CASCADE, related_name="vulnerabilities")
    cve_id = models.CharField(max_length=1000, db_index=True)  # CVE-..., GHSA-..., as the scanner names it
    aliases = models.JSONField(default=list)
    severity = models.CharField(max_length=10, choices=[(s.value, s.value.title()) for s in SEVERITIES])
    severity_rank = models.PositiveSmallIntegerField()  # 0 CRITICAL ... 5 UNKNOWN: orders worst first in SQL
    package = models.CharField(max_length=1000, blank=True)
    installed = models.CharField(max_length=1000, blank=True)
    fixed = models.TextField(blank=True)  # "" when no fix is known
    title = models.TextField(blank=True)
    url = models.TextField(blank=True)  # http(s) only (dockerbench.vulns)
    cvss = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["severity_rank", "cve_id", "package"]
        indexes = [models.Index(fields=["report", "severity_rank"], name="vuln_report_severity")]

    def __str__(self) -> str:
        return f"{self.cve_id} in {self.package} {self.installed}"


class HostImage(models.Model):
    """An image on a host at its latest scan, and the running containers using it. Replaced on each scan."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="images")
    scan_id = models.PositiveBigIntegerField()  # scans.Scan, by id: vulns sits below scans
    image_id = models.CharField(max_length=200)
    repo_digests = models.JSONField(default=list)
    tags = models.JSONField(default=list)
    keys = models.JSONField(default=list)  # dockerbench.vulns.keys_of_image: what reports are matched by
    containers = models.JSONField(default=list)  # [{"id": ..., "name": ...}] of the running ones
    seen = models.DateTimeField()

    class Meta:
        ordering = ["host_id", "image_id"]
        constraints = [models.UniqueConstraint(fields=["host", "image_id"], name="hostimage_host_image")]

    def __str__(self) -> str:
        return f"{self.name} on host #{self.host_id}"

    @property
    def name(self) -> str:
        return str(self.tags[0]) if self.tags else self.image_id[:19]


class CveWaiver(models.Model):
    """An accepted vulnerability: a CVE (or alias) everywhere, on one host, or in images matching a pattern.

    Like scans.Waiver it applies until the start of its expiry day (UTC) or until revoked; a waived CVE is
    shown as waived and does not count towards 4.4.
    """

    cve_id = models.CharField(max_length=200)  # stored upper-case; matched against ids and aliases
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.CASCADE, related_name="cve_waivers")
    # fnmatch pattern on the image's tags (repo:tag) and id; "" for every image.
    image_pattern = models.CharField(max_length=512, blank=True)
    reason = models.TextField()
    owner = models.CharField(max_length=200)
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
        verbose_name = "CVE waiver"

    def __str__(self) -> str:
        return f"CVE waiver #{self.pk}: {self.cve_id} {self.scope_text}"

    @property
    def scope_text(self) -> str:
        where = f"on {self.host}" if self.host_id is not None else "on every host"
        return f"in images matching {self.image_pattern!r} {where}" if self.image_pattern else where

    def is_active(self, today: date | None = None) -> bool:
        today = today or timezone.now().date()
        return self.revoked is None and self.expires > today

    def covers(self, *, ids: set[str], host_id: int, image_names: list[str]) -> bool:
        """Whether it covers a vulnerability known by ``ids`` (its id and aliases, upper-case) in an image
        called ``image_names`` (tags and id) on host ``host_id``. Activity is the caller's business."""
        if self.cve_id not in ids:
            return False
        if self.host_id is not None and self.host_id != host_id:
            return False
        return not self.image_pattern or any(fnmatchcase(n, self.image_pattern) for n in image_names)


class Lookup(models.Model):
    """The last live lookup of one image key at one scanner service: a failure waits ``retry_after``."""

    class Service(models.TextChoices):
        CLAIR = "clair", "Clair"
        TRIVY = "trivy", "Trivy server"
        QUAY = "quay", "Quay"

    service = models.CharField(max_length=8, choices=Service.choices)
    key = models.CharField(max_length=200)  # the digest asked about (Clair, Quay: manifest; Trivy: image id)
    tried = models.DateTimeField()
    ok = models.BooleanField(default=False)
    failures = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    retry_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "key"], name="lookup_service_key")]

    def __str__(self) -> str:
        return f"{self.service} lookup of {self.key}"


auditlog.register(CveWaiver)
