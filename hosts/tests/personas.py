"""The four personas of the access tests: an admin, an operator, a read-only viewer and an outsider.

The groups come from the hosts data migration, so these tests also prove a fresh install has them.
"""

from __future__ import annotations

import importlib

from django.apps import apps
from django.contrib.auth.models import Group, User
from django.test import Client

_groups_migration = importlib.import_module("hosts.migrations.0003_persona_groups")

PASSWORD = "a-long-test-password-1"  # noqa: S105 - throwaway users in the test database


def make_user(persona: str) -> User | None:
    if persona == "outsider":
        return None
    if persona == "admin":
        return User.objects.create_superuser("admin", "admin@example.invalid", PASSWORD)
    if not Group.objects.filter(name__in=_groups_migration.GROUPS).exists():
        # A transactional test before this one flushed the tables, the migration's groups with them.
        _groups_migration.ensure_persona_groups(apps)
    user = User.objects.create_user(persona, f"{persona}@example.invalid", PASSWORD)
    user.groups.add(Group.objects.get(name={"operator": "Operators", "viewer": "Viewers"}[persona]))
    return user


def persona_client(persona: str) -> Client:
    client = Client()
    user = make_user(persona)
    if user is not None:
        client.force_login(user)
    return client


# What htmx sends with each request it makes.
HX = {"HX-Request": "true"}
