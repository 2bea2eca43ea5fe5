from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotFound
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from core.access import Perm, can, get_for_user, require
from core.htmx import HtmxHttpRequest, render_page
from dockerbench import risk
from dockerbench.catalog import SECTIONS
from hosts.models import CREDENTIAL_FIELDS, Host
from scans import exports, queries, services
from scans.models import LatestScan, Scan

# Credentials are never needed to draw a page: leave them (sealed) in the database.
_HOST_PAGE = Host.objects.select_related("latest__scan").defer(*CREDENTIAL_FIELDS)
_SCANS = Scan.objects.select_related("host").defer(*(f"host__{f}" for f in CREDENTIAL_FIELDS))


def _choice(request: HtmxHttpRequest, name: str, allowed: Sequence[str] | dict[str, Any]) -> str:
    value = request.GET.get(name, "")
    return value if value in allowed else ""


# The verdicts a filter may ask for: the engine's statuses and WAIVED.
VERDICTS = list(queries.STATUS_PRECEDENCE)


def _abilities(user: Any) -> dict[str, bool]:
    """What the page may offer this user: links and buttons it cannot use are not shown."""
    return {
        "can_scan": can(user, Perm.RUN_SCAN),
        "can_cancel": can(user, Perm.CANCEL_SCAN),
        "can_edit_host": can(user, Perm.CHANGE_HOST),
        "can_waive": can(user, Perm.ADD_WAIVER),
    }


@require(Perm.VIEW_FINDINGS)
@require_GET
def overview(request: HtmxHttpRequest) -> HttpResponse:
    data = queries.fleet_overview(
        tag=request.GET.get("tag", "").strip(),
        section=_choice(request, "section", SECTIONS),
        status=_choice(request, "status", queries.OVERVIEW_STATUSES),
        page=request.GET.get("page", 1),
    )
    context = {"overview": data, "statuses": queries.OVERVIEW_STATUSES, "all_sections": SECTIONS}
    if not request.htmx:  # the filters redraw the host table only
        context["risks"] = queries.top_risks()
        context["morning"] = queries.morning_summary()
    return render_page(request, "scans/overview.html", context, partials=["heat-map"])


def _export_query(request: HtmxHttpRequest) -> str:
    wanted = {name: request.GET[name] for name in ("status", "section", "check") if request.GET.get(name)}
    return f"?{urlencode(wanted)}" if wanted else ""


def _host_page(request: HtmxHttpRequest, host: Host, scan: Scan | None) -> HttpResponse:
    data = queries.host_page(
        host,
        scan=scan,
        status=_choice(request, "status", VERDICTS),
        section=_choice(request, "section", queries.ALL_SECTIONS),
        check=request.GET.get("check", "")[:16],
        page=request.GET.get("page", 1),
    )
    context = {
        "host": host,
        "latest": LatestScan.of(host),
        "page": data,
        "scan": data.scan,
        "active": data.active,
        **_abilities(request.user),
        "statuses": VERDICTS,
        "all_sections": SECTIONS,
        "status": request.GET.get("status", ""),
        "section": request.GET.get("section", ""),
        # The exports take the page's filters: what the page shows is what the file holds.
        "export_query": _export_query(request),
    }
    return render_page(request, "scans/host.html", context, partials=["findings-table", "scan-list", "scan-progress"])


@require(Perm.VIEW_FINDINGS)
@require_GET
def host_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.VIEW_FINDINGS, _HOST_PAGE, pk=pk)
    return _host_page(request, host, None)


@require(Perm.VIEW_FINDINGS)
@require_GET
def scan_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    scan = get_for_user(request.user, Perm.VIEW_FINDINGS, Scan, pk=pk)
    if not scan.is_finished:
        return redirect("scans:scan-progress", pk=scan.pk)
    host = get_for_user(request.user, Perm.VIEW_FINDINGS, _HOST_PAGE, pk=scan.host_id)
    return _host_page(request, host, scan)


@require(Perm.VIEW_FINDINGS)
@require_GET
def scan_export(request: HtmxHttpRequest, pk: int, fmt: str) -> HttpResponse | FileResponse:
    scan = get_for_user(request.user, Perm.VIEW_FINDINGS, _SCANS, pk=pk)
    if fmt not in exports.EXPORT_FORMATS:
        raise Http404("No such export format.")
    try:
        body, content_type, filename = exports.export_scan(
            scan,
            fmt,
            status=_choice(request, "status", VERDICTS),
            section=_choice(request, "section", queries.ALL_SECTIONS),
            check=request.GET.get("check", "")[:16],
        )
    except exports.NothingToExport as exc:
        return HttpResponseNotFound(str(exc), content_type="text/plain; charset=utf-8")
    # FileResponse writes Content-Disposition with django.utils.http.content_disposition_header.
    return FileResponse(io.BytesIO(body), as_attachment=True, filename=filename, content_type=content_type)


@require(Perm.RUN_SCAN)
@require_POST
def scan_now(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.RUN_SCAN, _HOST_PAGE, pk=pk)
    scan = services.start_scan(host, trigger=Scan.Trigger.USER, user=request.user)
    if getattr(request, "htmx", None):
        context = {"host": host, "active": scan, **_abilities(request.user)}
        return render(request, "scans/host.html#scan-progress", context)
    messages.info(request, f"Scan #{scan.pk} of {host.name} is {scan.get_status_display().lower()}.")
    return redirect("scans:host", pk=host.pk)


@require(Perm.CANCEL_SCAN)
@require_POST
def scan_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    scan = get_for_user(request.user, Perm.CANCEL_SCAN, _SCANS, pk=pk)
    if services.cancel_scan(scan, user=request.user):
        messages.success(request, f"Scan #{scan.pk} of {scan.host.name} cancelled.")
    else:
        messages.info(request, f"Scan #{scan.pk} had finished already.")
    if getattr(request, "htmx", None):
        scan.refresh_from_db()
        context = {"host": scan.host, "scan": scan, "active": None, "finished": scan, **_abilities(request.user)}
        return render(request, "scans/host.html#scan-progress", context)
    return redirect("scans:host", pk=scan.host_id)


@require(Perm.VIEW_FINDINGS)
@require_GET
def scan_progress(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    scan = get_for_user(request.user, Perm.VIEW_FINDINGS, _SCANS, pk=pk)
    host = scan.host
    context = {
        "host": host,
        "scan": scan,
        "active": None if scan.is_finished else scan,
        "finished": scan,
        **_abilities(request.user),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        if scan.is_finished:
            # 286 stops the polling; the refresh brings in the host page with the new results.
            response = HttpResponseStopPolling(render_to_string("scans/host.html#scan-progress", context, request))
            response["HX-Refresh"] = "true"
            return response
        return render(request, "scans/host.html#scan-progress", context)
    return render(request, "scans/progress.html", context)


@require(Perm.VIEW_FINDINGS)
@require_GET
def check_detail(request: HtmxHttpRequest, check_id: str) -> HttpResponse:
    if check_id not in queries.ALL_BY_ID:
        raise Http404("No such check.")
    data = queries.check_fleet(
        check_id,
        tag=request.GET.get("tag", "").strip(),
        status=_choice(request, "status", VERDICTS),
    )
    context = {"check": data, "rec": data.rec, "statuses": VERDICTS, **_abilities(request.user)}
    return render_page(request, "scans/check.html", context, partials=["check-objects"])


@require(Perm.VIEW_FINDINGS)
@require_GET
def drift(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.VIEW_FINDINGS, _HOST_PAGE, pk=pk)
    show = _choice(request, "show", queries.DRIFT_FILTERS)
    context = {
        "host": host,
        "containers": queries.container_drift(host, show=show),
        "show": show,
        "filters": queries.DRIFT_FILTERS,
    }
    return render_page(request, "scans/drift.html", context, partials=["drift-list"])


@require(Perm.VIEW_FINDINGS)
@require_GET
def remediation(request: HtmxHttpRequest) -> HttpResponse:
    raw = request.GET.get("days", "90")
    days = int(raw) if raw.isdigit() and int(raw) in queries.REMEDIATION_WINDOWS else 90
    data = queries.remediation(days=days, tag=request.GET.get("tag", "").strip()[:100])
    context = {"data": data, "windows": queries.REMEDIATION_WINDOWS, "tag": request.GET.get("tag", "")}
    return render_page(request, "scans/remediation.html", context, partials=["remediation-tables"])


@require(Perm.VIEW_FINDINGS)
@require_GET
def risk_help(request: HtmxHttpRequest) -> HttpResponse:
    weights = sorted(
        ((risk.weight(check_id), check_id, rec) for check_id, rec in queries.ALL_BY_ID.items()),
        key=lambda item: (-item[0], queries.check_sort_key(item[1])),
    )
    return render(request, "scans/risk.html", {"weights": weights, "max_age": risk.AGE_CAP_DAYS})


@require(Perm.VIEW_FINDINGS)
@require_GET
def search(request: HtmxHttpRequest) -> HttpResponse:
    results = queries.fleet_search(request.GET.get("q", ""))
    context = {"results": results, "min_length": queries.SEARCH_MIN_LENGTH, "limit": queries.SEARCH_LIMIT}
    return render_page(request, "scans/search.html", context, partials=["search-results"])
