"""Who may do what: the named permissions, and the one way every view checks them.

Every view is wrapped in ``require(Perm.X)``: anonymous visitors are sent to log in, a logged-in account
with no role gets the "no access" page, and an account whose role lacks the permission gets a 403 that
names it. A view that works on one object fetches it with ``get_for_user``, which checks the permission
again before the lookup, so an API view or a task that reuses the helper cannot forget it.

The permissions are Django permissions ("app_label.codename") of the apps above this one, named here by
string: this module imports none of them. The roles that hold them are in core.roles.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404

ModelT = TypeVar("ModelT", bound=Model)
ViewFn = Callable[..., HttpResponseBase]


class Perm(StrEnum):
    """The named permissions. Views say which one they need; roles (core.roles) are sets of these."""

    VIEW_HOST = "hosts.view_host"
    ADD_HOST = "hosts.add_host"
    CHANGE_HOST = "hosts.change_host"
    DELETE_HOST = "hosts.delete_host"
    VIEW_SCAN = "scans.view_scan"
    VIEW_FINDINGS = "scans.view_findings"
    RUN_SCAN = "scans.run_scan"
    CANCEL_SCAN = "scans.cancel_scan"
    VIEW_WAIVER = "scans.view_waiver"
    ADD_WAIVER = "scans.add_waiver"
    CHANGE_WAIVER = "scans.change_waiver"  # edit and revoke
    VIEW_VULNS = "vulns.view_imagereport"  # reports, the fleet's, a host's and a container's CVEs
    UPLOAD_REPORT = "vulns.upload_imagereport"
    VIEW_CVE_WAIVER = "vulns.view_cvewaiver"
    ADD_CVE_WAIVER = "vulns.add_cvewaiver"
    CHANGE_CVE_WAIVER = "vulns.change_cvewaiver"  # revoke
    VIEW_SCHEDULE = "schedules.view_schedule"
    ADD_SCHEDULE = "schedules.add_schedule"
    CHANGE_SCHEDULE = "schedules.change_schedule"
    DELETE_SCHEDULE = "schedules.delete_schedule"
    VIEW_AUDIT_TRAIL = "auditlog.view_logentry"
    VIEW_CHANNEL = "notifications.view_channel"  # and its delivery log
    ADD_CHANNEL = "notifications.add_channel"
    CHANGE_CHANNEL = "notifications.change_channel"  # edit and send a test
    DELETE_CHANNEL = "notifications.delete_channel"
    VIEW_REPORT = "reports.view_report"  # the list, a report's page and its PDF
    REQUEST_REPORT = "reports.request_report"
    DELETE_REPORT = "reports.delete_report"
    VIEW_REPORT_SCHEDULE = "reports.view_reportschedule"
    ADD_REPORT_SCHEDULE = "reports.add_reportschedule"
    CHANGE_REPORT_SCHEDULE = "reports.change_reportschedule"
    DELETE_REPORT_SCHEDULE = "reports.delete_reportschedule"


class NoRole(PermissionDenied):
    """A logged-in account that is in no role: it may see nothing but the page that says so."""


class MissingPermission(PermissionDenied):
    def __init__(self, perm: Perm) -> None:
        super().__init__(perm.value)
        self.perm = perm


def has_role(user: Any) -> bool:
    """Whether the account holds any role: any permission at all, through a group or its own (a superuser holds
    them all). Read with the permissions themselves, in the one query core.backends makes per request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or bool(user.get_all_permissions())


def can(user: Any, perm: Perm) -> bool:
    return has_role(user) and bool(user.has_perm(perm.value))


def check(user: Any, perm: Perm) -> None:
    """Raise NoRole or MissingPermission unless ``user`` holds ``perm``."""
    if not has_role(user):
        raise NoRole
    if not user.has_perm(perm.value):
        raise MissingPermission(perm)


def get_for_user(user: Any, perm: Perm, queryset: QuerySet[ModelT] | type[ModelT], **lookup: Any) -> ModelT:
    """The object ``lookup`` finds in ``queryset``, if ``user`` holds ``perm``: 403 first, then 404.

    Checking before the lookup means an account without the permission cannot even learn which ids exist.
    """
    check(user, perm)
    return get_object_or_404(queryset, **lookup)


def require(perm: Perm) -> Callable[[ViewFn], ViewFn]:
    """Decorate a view: log in first, then hold ``perm``. The view keeps the permission as ``required_permission``,
    so the tests can walk the urlconf and check that every view declares one."""

    def decorate(view: ViewFn) -> ViewFn:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            check(request.user, perm)
            return view(request, *args, **kwargs)

        wrapped.required_permission = perm  # type: ignore[attr-defined]  # read by the access tests
        return wrapped

    return decorate


# What a view declares instead of a permission when it needs none.
PUBLIC = "public"
ANY_ACCOUNT = "any account"
# A door for machines, not people: it takes a host's push token and no session (api.push).
PUSH_TOKEN = "push token"  # noqa: S105 - a marker, not a secret


def public(view: ViewFn) -> ViewFn:
    """Mark a view that anyone may open (log in, log out)."""
    view.required_permission = PUBLIC  # type: ignore[attr-defined]  # read by the access tests
    return view


def any_account(view: ViewFn) -> ViewFn:
    """A view for every logged-in account, with or without a role (changing one's own password)."""
    wrapped = login_required(view)
    wrapped.required_permission = ANY_ACCOUNT  # type: ignore[attr-defined]  # read by the access tests
    return wrapped


def push_token(view: ViewFn) -> ViewFn:
    """Mark a view that authenticates a host's push token itself and serves no account."""
    view.required_permission = PUSH_TOKEN  # type: ignore[attr-defined]  # read by the access tests
    return view
