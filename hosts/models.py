from __future__ import annotations

import uuid
from datetime import UTC, date

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.utils import timezone

from hosts.crypto import EncryptedTextField
from hosts.endpoints import validate_docker_url, validate_ssh_target

# The credentials a Host keeps encrypted (hosts.crypto): write-only everywhere, the admin included.
CREDENTIAL_FIELDS = ("tls_ca_cert", "tls_client_cert", "tls_client_key", "ssh_private_key")


class Tag(models.Model):
    name = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Host(models.Model):
    """A Docker engine we audit, and how to reach it.

    Credentials (TLS client key and certificates, SSH private key) are encrypted at rest and write-only:
    the model holds them sealed (hosts.crypto.Sealed), forms and the admin never render them back.
    """

    class Facts(models.TextChoices):
        AUTO = "auto", "Automatic (local socket: local; ssh://: SSH; tcp://: probe container)"
        LOCAL = "local", "Local (the engine runs on the dashboard's machine)"
        PROBE = "probe", "Probe container through the Docker API"
        SSH = "ssh", "SSH"
        NONE = "none", "Do not gather host facts"

    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(
        "Docker URL",
        max_length=500,
        validators=[validate_docker_url],
        help_text="unix:///var/run/docker.sock, tcp://host:2376, tcp://[2001:db8::1]:2376 or ssh://user@host:22",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="hosts")
    enabled = models.BooleanField(default=True, help_text="Disabled hosts are never scanned on a schedule.")
    created = models.DateTimeField(auto_now_add=True)
    # Since when its engine has not answered: set when a scan fails unreachable after its retries (or at once for a
    # scan someone asked for), cleared by the next scan that collects (scans.services).
    unreachable_since = models.DateTimeField(null=True, blank=True, editable=False)

    facts_method = models.CharField(max_length=8, choices=Facts.choices, default=Facts.AUTO)
    probe_image = models.CharField(
        max_length=300, blank=True, help_text="Image for the probe container (needs a POSIX sh); blank: the default."
    )
    tls_verify = models.BooleanField("verify the daemon's certificate", default=True)
    tls_ca_cert = EncryptedTextField("TLS CA certificate (PEM)", blank=True)
    tls_client_cert = EncryptedTextField("TLS client certificate (PEM)", blank=True)
    tls_client_key = EncryptedTextField("TLS client key (PEM)", blank=True)
    ssh_private_key = EncryptedTextField("SSH private key (PEM/OpenSSH)", blank=True)
    ssh_known_hosts = models.TextField(
        "SSH known_hosts lines", blank=True, help_text="Public host keys the SSH server must present."
    )
    ssh_accept_unknown_host = models.BooleanField("accept an unknown SSH host key", default=False)
    ssh_facts_url = models.CharField(
        max_length=300,
        blank=True,
        validators=[validate_ssh_target],
        help_text="user@host[:port] to gather host facts over SSH for a tcp:// engine.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def uses_ssh(self) -> bool:
        """Whether reaching this host involves SSH: an ssh:// engine, or host facts gathered over SSH."""
        return self.scheme == "ssh" or self.facts_method == self.Facts.SSH or bool(self.ssh_facts_url)

    def used_credentials(self) -> tuple[str, ...]:
        """The credential fields a connection to this host reads; the others are never decrypted or written."""
        used: list[str] = []
        if self.scheme == "tcp":
            used += ["tls_ca_cert", "tls_client_cert", "tls_client_key"]
        if self.uses_ssh:
            used.append("ssh_private_key")
        return tuple(name for name in used if getattr(self, name))

    def unreadable_credentials(self) -> list[str]:
        """The credentials stored for this host that no configured key can decrypt (their verbose names)."""
        return [
            credential_label(name)
            for name in CREDENTIAL_FIELDS
            if getattr(self, name) and not getattr(self, name).readable
        ]


def credential_label(name: str) -> str:
    """The verbose name of a credential field ("TLS client key (PEM)")."""
    field = Host._meta.get_field(name)
    assert isinstance(field, models.Field)  # noqa: S101 - every credential is a concrete field
    return str(field.verbose_name)


class ConnectionTest(models.Model):
    """One "Test connection" of a host, run by a Celery worker so that no web worker waits on an engine."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Testing"
        OK = "ok", "Connected"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="connection_tests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    message = models.TextField(blank=True)
    docker_version = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["requested_by", "created"], name="conntest_user_created")]

    def __str__(self) -> str:
        return f"connection test of {self.host} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.OK, self.Status.FAILED)


class PushToken(models.Model):
    """A host's push token: what `python -m dockerbench --push` sends to report the host's own audit.

    Write-only and per host: it can add scans of its one host and do nothing else, not even read them. Only
    the sha256 of the secret is stored (the plaintext is shown once, when it is made); ``prefix`` is its first
    characters, stored in clear so a person can tell tokens apart. Revoked, or past the start of its expiry
    day (UTC), it opens nothing.
    """

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="push_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. the cron job of web-1.")
    prefix = models.CharField(max_length=16, editable=False, db_index=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)  # sha256 hex of the whole token
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used = models.DateTimeField(null=True, blank=True)
    expires = models.DateField(
        null=True, blank=True, help_text="Optional: it stops working at the start of this day (UTC)."
    )
    revoked = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"push token {self.prefix}… of {self.host} ({self.name})"

    def is_active(self, today: date | None = None) -> bool:
        today = today or timezone.now().astimezone(UTC).date()
        return self.revoked is None and (self.expires is None or self.expires > today)

    @property
    def state(self) -> str:
        if self.revoked is not None:
            return "revoked"
        return "active" if self.is_active() else "expired"


# The audit trail: a credential shows as set, changed or cleared, never any of its text (core.audit.hide_secret).
auditlog.register(Host, mask_fields=list(CREDENTIAL_FIELDS), m2m_fields={"tags"})
auditlog.register(Tag)
# The digest stays out of the trail although it cannot be turned back into the token; last_used changes with
# every push, which is not a change anyone made.
auditlog.register(PushToken, exclude_fields=["digest", "last_used"])
