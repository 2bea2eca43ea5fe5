"""Validation of the Docker endpoints a Host names, at form time, so a host that cannot work is never saved.

A URL is checked the way the engine will read it (urllib's split, then the port): a missing bracket of an
IPv6 address, a port outside 1-65535, a password in an ssh:// URL or a stray path are form errors with a
sentence that says what to write instead, never an exception later.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

from django.core.exceptions import ValidationError

SCHEMES = ("unix", "tcp", "ssh")
EXAMPLES = "unix:///var/run/docker.sock, tcp://host:2376, tcp://[2001:db8::1]:2376 or ssh://user@host:22"
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def _split(value: str) -> SplitResult:
    if _UNSAFE.search(value):
        raise ValidationError("A URL cannot hold spaces or control characters.", code="characters")
    try:
        return urlsplit(value)
    except ValueError as exc:  # "Invalid IPv6 URL": an unbalanced [ or ]
        raise ValidationError(
            "An IPv6 address goes in square brackets, both of them: tcp://[2001:db8::1]:2376.", code="ipv6"
        ) from exc


def _check_host(parts: SplitResult, *, what: str) -> None:
    host = parts.hostname or ""
    if "[" not in parts.netloc and parts.netloc.rpartition("@")[2].count(":") > 1:
        raise ValidationError("An IPv6 address goes in square brackets: tcp://[2001:db8::1]:2376.", code="ipv6")
    if not host:
        raise ValidationError(f"{what} needs a host name or address.", code="host")
    bracketed = "[" in parts.netloc
    if bracketed:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError as exc:
            raise ValidationError(f"{host!r} in brackets is not an IPv6 address.", code="ipv6") from exc
        return
    try:
        ipaddress.IPv4Address(host)
        return
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValidationError(f"{host!r} is not a valid host name.", code="host")


def _check_port(parts: SplitResult) -> None:
    try:
        port = parts.port
    except ValueError as exc:  # not a number, or above 65535
        raise ValidationError("The port must be a number from 1 to 65535.", code="port") from exc
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValidationError("The port must be a number from 1 to 65535.", code="port")


def _check_nothing_after(parts: SplitResult, *, what: str) -> None:
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValidationError(f"{what} has nothing after the host and port.", code="path")


def validate_docker_url(value: str) -> None:
    """A Host.url the engine can connect to: unix:///path, tcp://host[:port] or ssh://[user@]host[:port]."""
    parts = _split(value)
    if parts.scheme not in SCHEMES:
        raise ValidationError(f"Use {EXAMPLES}.", code="scheme")
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
            raise ValidationError(
                "A unix:// URL is the socket's absolute path after three slashes: unix:///var/run/docker.sock.",
                code="path",
            )
        return
    what = f"A {parts.scheme}:// URL"
    _check_host(parts, what=what)
    _check_port(parts)
    _check_nothing_after(parts, what=what)
    if parts.scheme == "tcp" and (parts.username or parts.password):
        raise ValidationError("A tcp:// URL has no user name: the engine authenticates with TLS.", code="user")
    if parts.scheme == "ssh":
        _check_user(parts)


def _check_user(parts: SplitResult) -> None:
    if parts.password is not None:
        raise ValidationError(
            "Do not put a password in the URL: store an SSH key for the host instead.", code="password"
        )
    if parts.username is not None and not _USER.match(parts.username):
        raise ValidationError(f"{parts.username!r} is not a valid SSH user name.", code="user")


def validate_ssh_target(value: str) -> None:
    """Host.ssh_facts_url: user@host[:port] (an ssh:// prefix is accepted), as the engine's SSH runner reads it."""
    if not value:
        return
    text = value if value.startswith("ssh://") else "ssh://" + value
    if "://" in value and not value.startswith("ssh://"):
        raise ValidationError("Write user@host or user@host:port (or ssh://user@host).", code="scheme")
    parts = _split(text)
    what = "The SSH address"
    _check_host(parts, what=what)
    _check_port(parts)
    _check_nothing_after(parts, what=what)
    _check_user(parts)
