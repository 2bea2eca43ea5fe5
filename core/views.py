from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from auditlog.models import LogEntry
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.access import MissingPermission, NoRole, Perm, has_role, public, require
from core.htmx import render_page

ENTRIES_PER_PAGE = 50
ACTIONS = {
    "create": LogEntry.Action.CREATE,
    "update": LogEntry.Action.UPDATE,
    "delete": LogEntry.Action.DELETE,
    "event": LogEntry.Action.ACCESS,
}


@public
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and compose health checks: 200 when the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok\n", content_type="text/plain")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: our page, with Django's reason (what to fix behind a proxy: the trusted origins)."""
    return render(request, "403_csrf.html", {"reason": reason}, status=403)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403: the "no access" page for an account in no role, else which permission is missing."""
    no_role = isinstance(exception, NoRole) or not has_role(request.user)
    perm = exception.perm if isinstance(exception, MissingPermission) else None
    context = {"no_role": no_role, "perm": perm}
    return render(request, "core/403.html", context, status=403)


class TrailFilter(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False, empty_label="anyone")
    kind = forms.ModelChoiceField(
        label="Object", queryset=ContentType.objects.none(), required=False, empty_label="any"
    )
    action = forms.ChoiceField(choices=[("", "any"), *((k, k) for k in ACTIONS)], required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model()
        cast(forms.ModelChoiceField, self.fields["user"]).queryset = users.objects.order_by(users.USERNAME_FIELD)
        kinds = LogEntry.objects.order_by().values("content_type").distinct()
        kinds_field = cast(forms.ModelChoiceField, self.fields["kind"])
        kinds_field.queryset = ContentType.objects.filter(pk__in=kinds).order_by("app_label", "model")


@dataclass
class TrailRow:
    entry: LogEntry
    actor: str
    what: str  # create / update / delete / the event's name
    changes: list[tuple[str, str]]  # (field, "old → new") or (field, "added: a, b")


def _actor(entry: LogEntry) -> str:
    if entry.actor is not None:
        return entry.actor.get_username()
    if entry.actor_email:
        return f"{entry.actor_email} (deleted user)"
    return "system"


def _what(entry: LogEntry) -> str:
    if entry.action == LogEntry.Action.ACCESS:
        return str((entry.additional_data or {}).get("event") or "event")
    return {LogEntry.Action.CREATE: "create", LogEntry.Action.UPDATE: "update", LogEntry.Action.DELETE: "delete"}.get(
        entry.action, str(entry.action)
    )


def _changes(entry: LogEntry) -> list[tuple[str, str]]:
    out = []
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    for name, change in sorted(changes.items()):
        if isinstance(change, dict) and change.get("type") == "m2m":
            verb = "added" if change.get("operation") == "add" else "removed"
            out.append((name, f"{verb}: {', '.join(str(o) for o in change.get('objects') or [])}"))
        elif isinstance(change, list | tuple) and len(change) == 2:
            out.append((name, f"{change[0]} → {change[1]}"))
        else:
            out.append((name, str(change)))
    return out


@require(Perm.VIEW_AUDIT_TRAIL)
@require_GET
def audit_trail(request: HttpRequest) -> HttpResponse:
    form = TrailFilter(request.GET or None)
    entries = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp", "-id")
    if form.is_valid():
        data = form.cleaned_data
        if data["user"]:
            entries = entries.filter(actor=data["user"])
        if data["kind"]:
            entries = entries.filter(content_type=data["kind"])
        if data["action"]:
            entries = entries.filter(action=ACTIONS[data["action"]])
        if data["since"]:
            entries = entries.filter(timestamp__gte=_day_start(data["since"]))
        if data["until"]:
            entries = entries.filter(timestamp__lt=_day_start(data["until"]) + timedelta(days=1))
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    rows = [TrailRow(entry=e, actor=_actor(e), what=_what(e), changes=_changes(e)) for e in page]
    context = {"form": form, "page": page, "rows": rows}
    return render_page(request, "core/audit_trail.html", context, partials="trail-table")


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
