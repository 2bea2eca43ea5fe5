"""The personas of every access test, for the whole project: an admin, an operator, a read-only viewer, a
logged-in outsider in no role (healthchecks' "charlie", who should have no access to anything), and an
anonymous visitor.

The roles are the groups core.roles keeps in step after every migrate, so these tests also prove a fresh
install has them. The admin is an Admins member with staff status, not a superuser: what the Admins role
grants is what is tested.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.test import Client

from core import roles

PASSWORD = "a-long-test-password-1"  # noqa: S105 - throwaway users in the test database
PERSONAS = ("admin", "operator", "viewer", "outsider", "anonymous")
ROLE_OF = {"admin": roles.ADMINS, "operator": roles.OPERATORS, "viewer": roles.VIEWERS}


def make_user(persona: str) -> User | None:
    """The persona's user (None for the anonymous visitor), created in the test database."""
    if persona == "anonymous":
        return None
    if Group.objects.filter(name__in=roles.ROLES).count() != len(roles.ROLES):
        roles.sync_roles()  # a transactional test flushed the tables and post_migrate has not run since
    user = User.objects.create_user(persona, f"{persona}@example.invalid", PASSWORD, is_staff=persona == "admin")
    if persona in ROLE_OF:
        user.groups.add(Group.objects.get(name=ROLE_OF[persona]))
    return user


def persona_client(persona: str) -> Client:
    client = Client()
    user = make_user(persona)
    if user is not None:
        client.force_login(user)
    return client


# What htmx sends with each request it makes.
HX = {"HX-Request": "true"}
