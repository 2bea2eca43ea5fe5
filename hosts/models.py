from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models

from hosts.crypto import EncryptedTextField

# The Docker endpoints the engine can reach (dockerbench.collect): a local socket, tcp (+TLS) and ssh.
DOCKER_URL_SCHEMES = ("unix", "tcp", "ssh")


def validate_docker_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in DOCKER_URL_SCHEMES:
        raise ValidationError(
            "Use unix:///path/to/docker.sock, tcp://host:2376 or ssh://user@host.",
            code="scheme",
        )
    if parts.scheme == "unix" and not parts.path:
        raise ValidationError("A unix:// URL needs the socket's path: unix:///var/run/docker.sock.", code="path")
    if parts.scheme in ("tcp", "ssh") and not parts.hostname:
        raise ValidationError("A tcp:// or ssh:// URL needs a host name.", code="host")


class Tag(models.Model):
    name = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Host(models.Model):
    """A Docker engine we audit, and how to reach it.

    Credentials (TLS client key and certificates, SSH private key) are
    encrypted at rest and write-only: forms never render them back.
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
        help_text="unix:///var/run/docker.sock, tcp://host:2376 or ssh://user@host",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="hosts")
    enabled = models.BooleanField(default=True, help_text="Disabled hosts are never scanned on a schedule.")
    created = models.DateTimeField(auto_now_add=True)

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
        max_length=300, blank=True, help_text="user@host[:port] to gather host facts over SSH for a tcp:// engine."
    )

    # The newest finished scan, kept here so the fleet overview reads one row per host.
    latest_scan = models.ForeignKey(
        "scans.Scan", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_ca_cert or self.tls_client_cert)
