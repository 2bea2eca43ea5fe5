"""The three roles hold exactly their permissions after every migrate, and syncing them again changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User

from core import roles
from core.access import Perm, can, has_role

pytestmark = pytest.mark.django_db


def _perms(group: str) -> set[str]:
    rows = Group.objects.get(name=group).permissions.values_list("content_type__app_label", "codename")
    return {f"{app}.{code}" for app, code in rows}


def test_each_role_holds_exactly_its_permissions() -> None:
    roles.sync_roles()
    assert _perms(roles.VIEWERS) == {str(p) for p in roles.VIEWER_PERMS}
    assert _perms(roles.OPERATORS) == {str(p) for p in roles.OPERATOR_PERMS}
    assert _perms(roles.ADMINS) == {f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.all()}
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_")) for p in _perms(roles.VIEWERS))


def test_syncing_again_restores_a_tampered_role_and_is_idempotent() -> None:
    viewers = Group.objects.get(name=roles.VIEWERS)
    viewers.permissions.add(Permission.objects.get(codename="delete_host"))
    Group.objects.filter(name=roles.OPERATORS).delete()
    roles.sync_roles()
    roles.sync_roles()
    assert "hosts.delete_host" not in _perms(roles.VIEWERS)
    assert _perms(roles.OPERATORS) == {str(p) for p in roles.OPERATOR_PERMS}
    assert Group.objects.filter(name__in=roles.ROLES).count() == 3


def test_an_account_has_a_role_only_through_a_group_or_as_superuser() -> None:
    roles.sync_roles()
    nobody = User.objects.create_user("nobody")
    viewer = User.objects.create_user("vera")
    viewer.groups.add(Group.objects.get(name=roles.VIEWERS))
    boss = User.objects.create_superuser("boss")
    assert not has_role(nobody) and not can(nobody, Perm.VIEW_FINDINGS)
    viewer = User.objects.get(pk=viewer.pk)  # a fresh object: permissions are cached per object
    assert has_role(viewer) and can(viewer, Perm.VIEW_FINDINGS) and not can(viewer, Perm.RUN_SCAN)
    assert has_role(boss) and can(boss, Perm.VIEW_AUDIT_TRAIL)
    viewer.is_active = False
    assert not has_role(viewer)


def test_a_role_naming_a_permission_that_does_not_exist_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(roles.ROLES, "Broken", frozenset({"hosts.fly_to_the_moon"}))
    with pytest.raises(LookupError, match="fly_to_the_moon"):
        roles.sync_roles()
