"""Encryption at rest for host credentials (TLS keys, SSH keys).

The key comes from the environment (DOCKERBENCH_ENCRYPTION_KEY: one or more
Fernet keys, comma separated, newest first, so keys can be rotated). Values
are stored as Fernet tokens; nothing in the database can be read without the
key, and no form or page ever shows a stored value back.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = [k.strip() for k in (settings.DOCKERBENCH_ENCRYPTION_KEY or "").split(",") if k.strip()]
    if not keys:
        if not settings.DEBUG:
            raise ImproperlyConfigured(
                "DOCKERBENCH_ENCRYPTION_KEY is not set; make one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            )
        # Debug only: a key derived from the dev secret key, so local runs need no setup.
        digest = hashlib.sha256(("dockerbench-dev:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"DOCKERBENCH_ENCRYPTION_KEY is not a valid Fernet key: {exc}") from exc


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "a stored credential cannot be decrypted: DOCKERBENCH_ENCRYPTION_KEY is not the key it was saved with"
        ) from exc


class EncryptedTextField(models.TextField):
    """A TextField stored encrypted; empty stays empty so "not set" needs no key."""

    def get_prep_value(self, value):  # type: ignore[no-untyped-def]
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)

    def from_db_value(self, value, expression, connection):  # type: ignore[no-untyped-def]
        if value in (None, ""):
            return value
        return decrypt(value)
