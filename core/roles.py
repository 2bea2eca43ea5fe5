"""The three roles, as Django groups: Viewers read, Operators run the fleet, Admins do everything.

``sync_roles`` makes the groups hold exactly these permissions. It runs after every ``migrate`` (and after
the test runner's flush, which emits post_migrate too), so a fresh install has the roles and an upgrade
gets the permissions a new version adds or drops.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

from core.access import Perm

VIEWERS = "Viewers"
OPERATORS = "Operators"
ADMINS = "Admins"

VIEWER_PERMS = frozenset(
    {
        Perm.VIEW_HOST,
        "hosts.view_tag",
        Perm.VIEW_SCAN,
        Perm.VIEW_FINDINGS,
        Perm.VIEW_WAIVER,
        Perm.VIEW_VULNS,
        Perm.VIEW_CVE_WAIVER,
        Perm.VIEW_SCHEDULE,
        # A report shows what the role reads on the pages already: every role may have one made.
        Perm.VIEW_REPORT,
        Perm.REQUEST_REPORT,
    }
)
OPERATOR_PERMS = VIEWER_PERMS | {
    Perm.ADD_HOST,
    Perm.CHANGE_HOST,
    Perm.DELETE_HOST,
    "hosts.add_tag",
    "hosts.change_tag",
    "hosts.delete_tag",
    Perm.RUN_SCAN,
    Perm.CANCEL_SCAN,
    Perm.ADD_WAIVER,
    Perm.CHANGE_WAIVER,
    Perm.UPLOAD_REPORT,
    Perm.ADD_CVE_WAIVER,
    Perm.CHANGE_CVE_WAIVER,
    Perm.ADD_SCHEDULE,
    Perm.CHANGE_SCHEDULE,
    Perm.DELETE_SCHEDULE,
    Perm.DELETE_REPORT,
}
# Report schedules mail the fleet's findings outside the dashboard, to any address: Admins only (below).
# None: every permission there is (users, groups, the audit trail, the admin's models).
ROLES: dict[str, frozenset[str] | None] = {VIEWERS: VIEWER_PERMS, OPERATORS: OPERATOR_PERMS, ADMINS: None}


def sync_roles(apps: Any = global_apps, using: str = "default") -> None:
    """Create the role groups and give each exactly its permissions (idempotent)."""
    # Permissions are made by a post_migrate handler of django.contrib.auth, app by app; make sure they all
    # exist now, whatever the order of the handlers. (create_permissions makes the content types too.)
    for app_config in global_apps.get_app_configs():
        if app_config.models_module is not None:
            create_permissions(app_config, apps=apps, verbosity=0, using=using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    every = {f"{app}.{code}": pk for pk, app, code in _all_permissions(Permission, using)}
    for name, wanted in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        names = set(every) if wanted is None else {str(p) for p in wanted}
        missing = sorted(n for n in names if n not in every)
        if missing:
            raise LookupError(f"role {name}: no such permissions {missing}")
        group.permissions.set([every[n] for n in names])


def _all_permissions(Permission: Any, using: str) -> list[tuple[int, str, str]]:
    return list(Permission.objects.using(using).values_list("pk", "content_type__app_label", "codename"))


def sync_roles_after_migrate(sender: Any, using: str = "default", apps: Any = global_apps, **kwargs: Any) -> None:
    # post_migrate is sent once per app with models; the roles span apps, so sync once, on auth's signal (auth
    # is always there). Every table exists by then: the signals come after the whole migration run.
    if sender.label == "auth":
        sync_roles(apps, using)
