from __future__ import annotations

import hashlib
import hmac

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.utils import timezone

# What every API token starts with: a leaked one is easy to recognise (and to grep for in a repository).
TOKEN_PREFIX = "dbk_"  # noqa: S105 - a marker, not a secret


def digest(plaintext: str) -> str:
    """What is stored of a token: its SHA-256. The secret has 256 bits of entropy, so no slow hash is needed."""
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


class ApiToken(models.Model):
    """A user's key to the REST API: named, scoped, expiring, stored hashed and shown once.

    A token acts as its user, with the user's role, and never more: a read-only token is refused every
    request that would change something, whatever its user may do.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. “CI pipeline of team A”.")
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters after the prefix, shown in the list so the owner can tell tokens apart.
    hint = models.CharField(max_length=8, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateField(help_text="The token stops working at the start of this day (UTC).")
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="apitoken_user_name")]

    def __str__(self) -> str:
        return f"API token {self.name!r} of {self.user}"

    def is_active(self) -> bool:
        return self.revoked is None and self.expires > timezone.now().date()

    def matches(self, plaintext: str) -> bool:
        return hmac.compare_digest(self.key_hash, digest(plaintext))

    @property
    def writes(self) -> bool:
        return self.scope == self.Scope.WRITE


auditlog.register(ApiToken, exclude_fields=["key_hash", "last_used"])
