"""Waiver pages: the list with its filters, one waiver, and creating, editing and revoking one (Operators).

A waiver is created from a finding, a check page or a host page: the form comes in with htmx next to what
is waived, and on success the page's findings redraw in place (see _saved), so the score and the WAIVED
badges change without a reload. Without htmx the same URLs are plain pages.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from core.access import Perm, can, get_for_user, require
from core.htmx import HtmxHttpRequest, redirect_to, render_page
from hosts.models import CREDENTIAL_FIELDS, Host
from scans import waivers
from scans.forms import WaiverForm
from scans.models import Finding, Waiver

FILTERS = {
    "active": "active",
    "expiring": f"expiring within {waivers.EXPIRING_SOON_DAYS} days",
    "expired": "expired",
    "revoked": "revoked",
    "all": "all",
}
_WAIVERS = Waiver.objects.select_related("host", "tag", "created_by").defer(*(f"host__{f}" for f in CREDENTIAL_FIELDS))
SAVED_EVENT = "waivers-changed"


def filtered(show: str) -> QuerySet[Waiver]:
    today = waivers.today()
    qs = _WAIVERS.annotate(covered=Count("findings", filter=Q(findings__state=Finding.State.OPEN)))
    if show == "active":
        return qs.filter(revoked__isnull=True, expires__gt=today)
    if show == "expiring":
        soon = today + timedelta(days=waivers.EXPIRING_SOON_DAYS)
        return qs.filter(revoked__isnull=True, expires__gt=today, expires__lte=soon)
    if show == "expired":
        return qs.filter(revoked__isnull=True, expires__lte=today)
    if show == "revoked":
        return qs.filter(revoked__isnull=False)
    return qs


@require(Perm.VIEW_WAIVER)
@require_http_methods(["GET"])
def waiver_list(request: HtmxHttpRequest) -> HttpResponse:
    show = request.GET.get("show", "active")
    show = show if show in FILTERS else "active"
    context = {
        "waivers": list(filtered(show).order_by("expires", "id")[:500]),
        "show": show,
        "filters": FILTERS,
        "today": waivers.today(),
        "can_add": can(request.user, Perm.ADD_WAIVER),
    }
    return render_page(request, "scans/waivers.html", context, partials=["waiver-list"])


@require(Perm.VIEW_WAIVER)
@require_http_methods(["GET"])
def waiver_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    waiver = get_for_user(request.user, Perm.VIEW_WAIVER, _WAIVERS, pk=pk)
    covered = (
        Finding.objects.filter(waiver=waiver, state=Finding.State.OPEN)
        .select_related("host")
        .only("check_id", "object_kind", "object_key", "object_name", "opened", "host__name")
        .order_by("host__name", "object_key")[:500]
    )
    context = {
        "waiver": waiver,
        "active": waiver.is_active(),
        "covered": list(covered),
        "can_change": can(request.user, Perm.CHANGE_WAIVER),
    }
    return render(request, "scans/waiver.html", context)


def _initial(request: HtmxHttpRequest) -> tuple[dict[str, Any], str]:
    """The form's starting values and where it was opened: on a finding (?finding=), a host page's check
    (?check=&host=) or a check page (?check=)."""
    initial: dict[str, Any] = {"owner": request.user.get_username(), "expires": waivers.today() + timedelta(days=90)}
    origin = ""
    if request.GET.get("check"):
        initial["check_id"] = request.GET["check"][:16]
        origin = "check"
    host_id = request.GET.get("host", "")
    if host_id.isdigit() and Host.objects.filter(pk=int(host_id)).exists():
        initial["host"] = int(host_id)
        origin = "host"
    finding_id = request.GET.get("finding", "")
    if finding_id.isdigit():
        finding = Finding.objects.filter(pk=int(finding_id)).first()
        if finding is not None:
            initial.update(check_id=finding.check_id, host=finding.host_id, object_pattern=finding.object_key)
            origin = f"finding-{finding.pk}"
    return initial, origin


@require(Perm.ADD_WAIVER)
@require_http_methods(["GET", "POST"])
def waiver_add(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = WaiverForm(request.POST)
        origin = request.POST.get("origin", "")
        if form.is_valid():
            waiver = waivers.save_waiver(form.save(commit=False), user=request.user)
            return _saved(request, waiver, origin, f"Waiver #{waiver.pk} saved: {waiver.check_id} {waiver.scope_text}.")
    else:
        initial, origin = _initial(request)
        form = WaiverForm(initial=initial)
    return _form_page(request, form, origin, reverse("scans:waiver-add"))


@require(Perm.CHANGE_WAIVER)
@require_http_methods(["GET", "POST"])
def waiver_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    waiver = get_for_user(request.user, Perm.CHANGE_WAIVER, Waiver, pk=pk)
    form = WaiverForm(request.POST or None, instance=waiver)
    if request.method == "POST" and form.is_valid():
        saved = waivers.save_waiver(form.save(commit=False), user=request.user)
        return _saved(request, saved, "", f"Waiver #{saved.pk} updated.")
    return _form_page(request, form, "", reverse("scans:waiver-edit", args=[waiver.pk]), waiver=waiver)


@require(Perm.CHANGE_WAIVER)
@require_POST
def waiver_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    waiver = get_for_user(request.user, Perm.CHANGE_WAIVER, Waiver, pk=pk)
    if waivers.revoke_waiver(waiver, user=request.user):
        messages.success(request, f"Waiver #{waiver.pk} revoked: its findings are WARN again.")
    else:
        messages.info(request, f"Waiver #{waiver.pk} was not active.")
    return redirect_to(request, reverse("scans:waiver", args=[waiver.pk]))


def _form_page(
    request: HtmxHttpRequest, form: WaiverForm, origin: str, action: str, *, waiver: Waiver | None = None
) -> HttpResponse:
    context = {"form": form, "origin": origin, "action": action, "waiver": waiver}
    if getattr(request, "htmx", None) and not request.htmx.history_restore_request:
        # 200 with the errors: htmx swaps only successful answers.
        return render(request, "scans/waiver_form.html#waiver-form", context)
    return render(request, "scans/waiver_form.html", context, status=400 if form.is_bound and form.errors else 200)


def _saved(request: HtmxHttpRequest, waiver: Waiver, origin: str, text: str) -> HttpResponse:
    """After a waiver is saved where it was opened (htmx): the page's findings redraw in place, no reload.

    On a host page, the findings table comes back with the waived check open (HX-Location into
    #findings-table); on a check page, its objects redraw on the "waivers-changed" event.
    """
    if getattr(request, "htmx", None) and origin:
        response = render(request, "scans/waiver_form.html#waiver-saved", {"waiver": waiver, "text": text})
        if (origin.startswith("finding-") or origin == "host") and waiver.host_id is not None:
            url = reverse("scans:host", args=[waiver.host_id]) + "?" + urlencode({"check": waiver.check_id})
            response["HX-Location"] = json.dumps({"path": url, "target": "#findings-table", "swap": "outerHTML"})
        else:
            response["HX-Trigger"] = SAVED_EVENT
        return response
    messages.success(request, text)
    return redirect_to(request, reverse("scans:waiver", args=[waiver.pk]))
