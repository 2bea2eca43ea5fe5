"""API tokens: made, checked and revoked here, for the token page and the API's authentication."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from api.models import TOKEN_PREFIX, ApiToken, digest

# last_used is a hint for the owner, not a log: writing it on every request would make each read a write.
LAST_USED_GRAIN = timedelta(minutes=1)


def max_expiry(today: date | None = None) -> date:
    return (today or timezone.now().date()) + timedelta(days=settings.DOCKERBENCH_API_TOKEN_MAX_DAYS)


def create_token(user: Any, *, name: str, scope: str, expires: date) -> tuple[ApiToken, str]:
    """A new token for ``user``, and its plaintext: the only time anyone sees it (only its hash is stored)."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        scope=scope,
        expires=expires,
        key_hash=digest(plaintext),
        hint=plaintext[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 6],
    )
    return token, plaintext


def revoke_token(token: ApiToken) -> bool:
    """Stop ``token`` now. False when it was revoked already."""
    return bool(ApiToken.objects.filter(pk=token.pk, revoked__isnull=True).update(revoked=timezone.now()))


def authenticate(plaintext: str) -> ApiToken | None:
    """The active token with this plaintext, with its user; None for an unknown, revoked or expired one."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=digest(plaintext)).first()
    if token is None or not token.matches(plaintext) or not token.is_active() or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used > LAST_USED_GRAIN:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
    return token
