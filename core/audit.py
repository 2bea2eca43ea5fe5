"""The audit trail: who changed what, when, from where. Stored by django-auditlog (one LogEntry table).

Models are registered with auditlog by the app that owns them (in its AppConfig.ready), with their secrets
masked by ``hide_secret``; this module adds what auditlog does not see by itself: logins, logouts, failed
logins (never the password tried), and events such as "scan started", recorded with ``record_event``.
Entries keep the object's type, id and text, not a foreign key, so they outlive the object.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from auditlog.middleware import AuditlogMiddleware
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.http import HttpRequest

# Shown in the trail instead of a secret's value, for both sides of a change ("set" -> "set" is a change).
SECRET_SET = "(secret set)"  # noqa: S105 - a label, not a password
SECRET_EMPTY = "(empty)"  # noqa: S105 - a label, not a password

LOGIN = "login"
LOGOUT = "logout"
LOGIN_FAILED = "login failed"


def hide_secret(value: str) -> str:
    """auditlog's mask callable (AUDITLOG_MASK_CALLABLE): whether a secret was set, never any of its text."""
    return SECRET_SET if value not in ("", "None") else SECRET_EMPTY


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the socket's peer, or, behind DOCKERBENCH_TRUSTED_PROXIES reverse proxies that
    append to X-Forwarded-For, the address the outermost of them saw. Entries a client sent itself are never
    trusted: with one proxy the address is the last entry, with two the one before it, and so on.
    """
    hops = settings.DOCKERBENCH_TRUSTED_PROXIES
    address = request.META.get("REMOTE_ADDR", "")
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    return _valid_ip(address)


def _valid_ip(text: str) -> str | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class AuditMiddleware(AuditlogMiddleware):
    """auditlog's middleware (actor and address on every entry a request makes), with our client address:
    auditlog's own takes the first X-Forwarded-For entry, which any client can forge."""

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        return client_ip(request)

    @staticmethod
    def _get_remote_port(request: HttpRequest) -> int | None:
        return None  # the proxy's port says nothing about who did it


def record_event(
    instance: Model,
    event: str,
    *,
    actor: Any = None,
    remote_addr: str | None = None,
    changes: dict[str, Any] | None = None,
    action: int = LogEntry.Action.ACCESS,
) -> LogEntry:
    """Add an entry for something that is not a field change (a scan started, a login), by ``actor``."""
    entry = LogEntry.objects.log_create(
        instance,
        force_log=True,
        action=action,
        changes=changes or {},
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_email=getattr(actor, "email", None) or None,
        remote_addr=remote_addr,
        additional_data={"event": event},
    )
    if entry is None:  # force_log always makes one
        raise RuntimeError("auditlog made no entry")
    return entry


def on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record_event(user, LOGIN, actor=user, remote_addr=client_ip(request) if request else None)


def on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record_event(user, LOGOUT, actor=user, remote_addr=client_ip(request) if request else None)


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # credentials has the password masked by Django already; only the user name is kept, as text.
    username = str(credentials.get("username", ""))[:150]
    users = get_user_model()
    user = users.objects.filter(**{users.USERNAME_FIELD: username}).first()
    LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(users),
        object_pk=str(user.pk) if user else "",
        object_id=user.pk if user else None,
        object_repr=username,
        action=LogEntry.Action.ACCESS,
        changes={},
        remote_addr=client_ip(request) if request else None,
        additional_data={"event": LOGIN_FAILED, "known_user": user is not None},
    )
