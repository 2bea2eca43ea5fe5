from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models

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
    """A Docker engine we audit."""

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

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
