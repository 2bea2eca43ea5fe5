from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from config.htmx import render_page
from dockerbench.catalog import BY_ID, SECTIONS
from hosts.models import Host
from scans import queries, services
from scans.models import CheckResult, Scan

# Credentials are never needed to draw a page: leave them (encrypted) in the database.
_SECRET_FIELDS = ("tls_ca_cert", "tls_client_cert", "tls_client_key", "ssh_private_key")
SCAN_PERMISSION = "scans.add_scan"


def _get_host_for_user(user: Any, pk: int, *, perm: str | None = None) -> Host:
    """The host, if this user may see it (and holds ``perm`` when given); 403 or 404 otherwise."""
    if perm is not None and not user.has_perm(perm):
        raise PermissionDenied
    return get_object_or_404(Host.objects.select_related("latest_scan").defer(*_SECRET_FIELDS), pk=pk)


def _get_scan_for_user(user: Any, pk: int) -> Scan:
    return get_object_or_404(Scan.objects.select_related("host").defer(*(f"host__{f}" for f in _SECRET_FIELDS)), pk=pk)


def _choice(request: HttpRequest, name: str, allowed: Sequence[str] | dict[str, Any]) -> str:
    value = request.GET.get(name, "")
    return value if value in allowed else ""


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    data = queries.fleet_overview(
        tag=request.GET.get("tag", "").strip(),
        section=_choice(request, "section", SECTIONS),
        status=_choice(request, "status", queries.OVERVIEW_STATUSES),
        page=request.GET.get("page", 1),
    )
    context = {"overview": data, "statuses": queries.OVERVIEW_STATUSES, "all_sections": SECTIONS}
    return render_page(request, "scans/overview.html", context, partials=["heat-map"])


def _host_page(request: HttpRequest, host: Host, scan: Scan | None) -> HttpResponse:
    data = queries.host_page(
        host,
        scan=scan,
        status=_choice(request, "status", CheckResult.Status.values),
        section=_choice(request, "section", SECTIONS),
        check=request.GET.get("check", "")[:16],
        page=request.GET.get("page", 1),
    )
    context = {
        "host": host,
        "page": data,
        "scan": data.scan,
        "active": data.active,
        "can_scan": request.user.has_perm(SCAN_PERMISSION),
        "statuses": CheckResult.Status.values,
        "all_sections": SECTIONS,
        "status": request.GET.get("status", ""),
        "section": request.GET.get("section", ""),
    }
    return render_page(request, "scans/host.html", context, partials=["findings-table", "scan-list", "scan-progress"])


@login_required
@require_GET
def host_detail(request: HttpRequest, pk: int) -> HttpResponse:
    host = _get_host_for_user(request.user, pk)
    return _host_page(request, host, None)


@login_required
@require_GET
def scan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scan = _get_scan_for_user(request.user, pk)
    host = _get_host_for_user(request.user, scan.host_id)
    if not scan.is_finished:
        return redirect("scans:scan-progress", pk=scan.pk)
    return _host_page(request, host, scan)


@login_required
@require_POST
def scan_now(request: HttpRequest, pk: int) -> HttpResponse:
    host = _get_host_for_user(request.user, pk, perm=SCAN_PERMISSION)
    scan = services.start_scan(host, trigger=Scan.Trigger.USER, user=request.user)
    if getattr(request, "htmx", None):
        return render(request, "scans/host.html#scan-progress", {"host": host, "active": scan, "can_scan": True})
    messages.info(request, f"Scan #{scan.pk} of {host.name} is {scan.get_status_display().lower()}.")
    return redirect("scans:host", pk=host.pk)


@login_required
@require_GET
def scan_progress(request: HttpRequest, pk: int) -> HttpResponse:
    scan = _get_scan_for_user(request.user, pk)
    host = scan.host
    context = {"host": host, "scan": scan, "active": None if scan.is_finished else scan, "finished": scan}
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        if scan.is_finished:
            # 286 stops the polling; the refresh brings in the host page with the new results.
            response = HttpResponseStopPolling(render_to_string("scans/host.html#scan-progress", context, request))
            response["HX-Refresh"] = "true"
            return response
        return render(request, "scans/host.html#scan-progress", context)
    return render(request, "scans/progress.html", context)


@login_required
@require_GET
def check_detail(request: HttpRequest, check_id: str) -> HttpResponse:
    if check_id not in BY_ID:
        raise Http404("No such CIS recommendation.")
    data = queries.check_fleet(
        check_id,
        tag=request.GET.get("tag", "").strip(),
        status=_choice(request, "status", CheckResult.Status.values),
    )
    context = {"check": data, "rec": data.rec, "statuses": CheckResult.Status.values}
    return render_page(request, "scans/check.html", context, partials=["check-objects"])


@login_required
@require_GET
def drift(request: HttpRequest, pk: int) -> HttpResponse:
    host = _get_host_for_user(request.user, pk)
    show = _choice(request, "show", queries.DRIFT_FILTERS)
    context = {
        "host": host,
        "containers": queries.container_drift(host, show=show),
        "show": show,
        "filters": queries.DRIFT_FILTERS,
    }
    return render_page(request, "scans/drift.html", context, partials=["drift-list"])
