from __future__ import annotations

from auditlog.registry import auditlog
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator, validate_email
from django.db import models

from dockerbench.catalog import ALL_SECTIONS
from hosts.crypto import EncryptedTextField

validate_http_url = URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.")


def recipient_list(text: str) -> list[str]:
    """The addresses of a comma (or newline) separated list, without blanks."""
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def validate_recipients(text: str) -> None:
    bad = []
    for address in recipient_list(text):
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError("Not an email address: %(bad)s", params={"bad": ", ".join(bad)}, code="invalid")


class Event(models.TextChoices):
    """What a channel can be told about. TEST is the "send a test" button's, never subscribed to."""

    NEW_FINDINGS = "new_findings", "New findings"
    SUSPICIOUS_DRIFT = "suspicious_drift", "Suspicious container drift"
    SCAN_FAILED = "scan_failed", "Scan failed"
    HOST_STALE = "host_stale", "Host not scanned for 48 hours"
    WAIVER_EXPIRING = "waiver_expiring", "Waiver expiring within 7 days"
    TEST = "test", "Test"
    # A report schedule names its channel itself: a channel does not subscribe to reports.
    REPORT = "report", "Scheduled report"


SUBSCRIBABLE = [(value, label) for value, label in Event.choices if value not in (Event.TEST, Event.REPORT)]
SECTION_CHOICES = [(key, f"{key} {title}") for key, title in ALL_SECTIONS.items()]


class Channel(models.Model):
    """Where notifications go: a list of email addresses or a webhook, with the events and findings it wants.

    A webhook's secret signs every body (HMAC-SHA256, header X-Dockerbench-Signature); it is stored sealed
    (hosts.crypto) and shown once, when it is made.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Format(models.TextChoices):
        JSON = "json", "JSON"
        SLACK = "slack", "Slack-compatible"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WEBHOOK)
    enabled = models.BooleanField(default=True)
    recipients = models.TextField(
        blank=True, validators=[validate_recipients], help_text="Email: addresses, separated by commas."
    )
    url = models.CharField(
        "webhook URL", max_length=500, blank=True, validators=[validate_http_url], help_text="Webhook: http(s)://…"
    )
    secret = EncryptedTextField(blank=True)
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSON)
    events = models.JSONField(default=list, blank=True)  # Event values
    sections = models.JSONField(default=list, blank=True)  # catalog section keys; empty: every section
    min_weight = models.PositiveSmallIntegerField(
        "minimum risk weight",
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Only findings and waivers of checks that weigh at least this much (1..10).",
    )
    include_first_scan = models.BooleanField(
        "include a host's first scan",
        default=False,
        help_text="A host's first scan finds its whole backlog; off: only what later scans newly find.",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        return self.enabled and (event == Event.TEST or event in (self.events or []))

    def covers(self, check_id: str, section: str, weight: int) -> bool:
        """Whether a finding (or waiver) of this check passes the channel's section and weight filters."""
        return (not self.sections or section in self.sections) and weight >= self.min_weight

    @property
    def recipient_list(self) -> list[str]:
        return recipient_list(self.recipients)

    @property
    def target(self) -> str:
        return ", ".join(self.recipient_list) if self.kind == self.Kind.EMAIL else self.url


class Delivery(models.Model):
    """One message to one channel, and how sending it went. ``dedupe_key`` names what it is about (a scan's
    new findings, a host's stale stretch, a waiver's expiry): one delivery per channel and key, whoever asks."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=Event.choices)
    dedupe_key = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    # What is sent: a webhook's JSON body, exactly; for email {"subject": ..., "body": ...}.
    payload = models.JSONField(default=dict)
    # Email only. Addresses that replace the channel's for this one message (a report schedule has its own),
    # and a file on storage sent with it. The file belongs to whoever made the delivery (a report): a delivery
    # only names it, so its retries send the same bytes and deleting the delivery leaves the file alone.
    recipients = models.TextField(blank=True, validators=[validate_recipients])
    attachment = models.FileField(max_length=300, blank=True)
    attachment_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    tried = models.DateTimeField(null=True, blank=True)  # the last try's end: a pending one untouched long is lost
    # Held by the attempt sending it, so two copies of the task never send it at once.
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["channel", "dedupe_key"], name="delivery_once_per_channel")]
        indexes = [models.Index(fields=["channel", "-created"], name="delivery_channel_created")]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel_id} ({self.status})"

    @property
    def recipient_list(self) -> list[str]:
        """Where an email delivery goes: its own addresses when it has some, else its channel's."""
        return recipient_list(self.recipients) if self.recipients.strip() else self.channel.recipient_list


# The audit trail: the secret shows as set or changed, never any of its text (core.audit.hide_secret).
auditlog.register(Channel, mask_fields=["secret"])
