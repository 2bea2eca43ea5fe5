"""Encryption at rest for host credentials (TLS keys, SSH keys).

The key comes from the environment (DOCKERBENCH_ENCRYPTION_KEY: one or more Fernet keys, comma separated,
newest first, so keys can be rotated with ``manage.py rotate_encryption_key``). Values are stored as Fernet
tokens, and an ``EncryptedTextField`` gives back a ``Sealed`` value, never the text: a credential is
decrypted only where a connection needs it (``Sealed.reveal()``), so loading a host never fails, and a
credential that cannot be decrypted any more (key dropped, data damaged) breaks nothing but its own use.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class CredentialUnreadable(Exception):
    """A stored credential cannot be decrypted with any configured key."""


@cache
def _keys() -> tuple[Fernet, ...]:
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
        return tuple(Fernet(k) for k in keys)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"DOCKERBENCH_ENCRYPTION_KEY is not a valid Fernet key: {exc}") from exc


def reset_keys() -> None:
    """Forget the keys read from the settings (after the tests change them)."""
    _keys.cache_clear()


def _fernet() -> MultiFernet:
    return MultiFernet(list(_keys()))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


class Sealed:
    """A credential as stored: a Fernet token (or nothing). Its text comes out only through ``reveal()``.

    ``str()`` and ``repr()`` never show the text: a stable digest of the token instead, so a change can be
    noticed (the audit trail compares these) without anything secret being written down.
    """

    __slots__ = ("token", "_readable")

    def __init__(self, token: str) -> None:
        self.token = token
        self._readable: bool | None = None

    @classmethod
    def of(cls, text: str) -> Sealed:
        return cls(encrypt(text) if text else "")

    def __bool__(self) -> bool:
        return bool(self.token)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __str__(self) -> str:
        if not self.token:
            return ""
        return "sealed:" + hashlib.sha256(self.token.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"<Sealed {'empty' if not self.token else str(self)}>"

    def reveal(self) -> str:
        """The plain text; raises CredentialUnreadable when no configured key opens it."""
        if not self.token:
            return ""
        try:
            text = _fernet().decrypt(self.token.encode()).decode()
        except (InvalidToken, UnicodeDecodeError, ValueError) as exc:
            self._readable = False
            raise CredentialUnreadable("a stored credential cannot be decrypted: enter it again") from exc
        self._readable = True
        return text

    @property
    def readable(self) -> bool:
        """Whether ``reveal()`` would work (tried once per value)."""
        if self._readable is None:
            with contextlib.suppress(CredentialUnreadable):
                self.reveal()
        return bool(self._readable) or not self.token

    def rotated(self) -> Sealed | None:
        """The same text under the newest key, or None when the token is already under it (or empty).
        Raises CredentialUnreadable when no key opens it."""
        if not self.token:
            return None
        keys = _keys()
        try:
            keys[0].decrypt(self.token.encode())
            return None
        except InvalidToken:
            pass
        try:
            return Sealed(_fernet().rotate(self.token.encode()).decode())
        except InvalidToken as exc:
            raise CredentialUnreadable("a stored credential cannot be decrypted with any configured key") from exc


class _SealingDescriptor:
    """Seals text the moment it is assigned, so a plain secret never sits on a model instance."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        return instance.__dict__.get(self.name, Sealed(""))

    def __set__(self, instance: Any, value: Any) -> None:
        if value is None or value == "":
            value = Sealed("")
        elif isinstance(value, str):
            value = Sealed.of(value)
        elif not isinstance(value, Sealed):
            raise TypeError(f"{self.name}: a credential is text or Sealed, not {type(value).__name__}")
        instance.__dict__[self.name] = value


class EncryptedTextField(models.TextField):
    """A TextField holding a Fernet token; the model attribute is always a ``Sealed``.

    Assigning text encrypts it at once; empty stays empty, so "not set" needs no key.
    """

    def contribute_to_class(self, cls: Any, name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only)
        setattr(cls, self.attname, _SealingDescriptor(self.attname))

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Sealed):
            return value.token
        if value in (None, ""):
            return ""
        return encrypt(str(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Sealed:
        return Sealed(value or "")

    def to_python(self, value: Any) -> Any:
        if isinstance(value, Sealed):
            return value
        return super().to_python(value)

    def value_to_string(self, obj: Any) -> str:
        # Serializers (dumpdata) get the token, never the text.
        return str(self.value_from_object(obj).token)
