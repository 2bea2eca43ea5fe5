"""Vulnerability pages: the fleet's CVEs by image, a host's, a container's, a report, the upload, CVE waivers."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.access import Perm, can, get_for_user, require
from core.htmx import HtmxHttpRequest, redirect_to, render_page
from hosts.models import CREDENTIAL_FIELDS, Host
from vulns import queries, services
from vulns.forms import CveWaiverForm, ReportUploadForm
from vulns.models import CveWaiver, HostImage, ImageReport

SEVERITY_FILTERS = {"critical": ("CRITICAL",), "high": ("CRITICAL", "HIGH")}
WAIVER_FILTERS = {"active": "active", "expired": "expired", "revoked": "revoked", "all": "all"}
_HOSTS = Host.objects.defer(*CREDENTIAL_FIELDS)


def _filters(request: HtmxHttpRequest) -> tuple[str, bool]:
    severity = request.GET.get("severity", "high")
    return (severity if severity in SEVERITY_FILTERS else "high"), request.GET.get("fixable") == "1"


def _cves_page(
    request: HtmxHttpRequest,
    context: dict[str, object],
    *,
    host_id: int | None = None,
    container_id: str | None = None,
) -> HttpResponse:
    severity, fixable = _filters(request)
    fleet = queries.image_cves(
        severities=SEVERITY_FILTERS[severity], fixable_only=fixable, host_id=host_id, container_id=container_id
    )
    context.update(
        fleet=fleet,
        severity=severity,
        fixable=fixable,
        can_upload=can(request.user, Perm.UPLOAD_REPORT),
        can_waive=can(request.user, Perm.ADD_CVE_WAIVER),
    )
    return render_page(request, "vulns/cves.html", context, partials=["cve-list"])


@require(Perm.VIEW_VULNS)
@require_GET
def fleet(request: HtmxHttpRequest) -> HttpResponse:
    return _cves_page(request, {"scope": "fleet", "here_url": reverse("vulns:fleet")})


@require(Perm.VIEW_VULNS)
@require_GET
def host_cves(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.VIEW_VULNS, _HOSTS, pk=pk)
    context = {"scope": "host", "host": host, "here_url": reverse("vulns:host", args=[host.pk])}
    return _cves_page(request, context, host_id=host.pk)


@require(Perm.VIEW_VULNS)
@require_GET
def container_cves(request: HtmxHttpRequest, pk: int, container_id: str) -> HttpResponse:
    host = get_for_user(request.user, Perm.VIEW_VULNS, _HOSTS, pk=pk)
    name = next(
        (
            c.get("name", "")
            for row in HostImage.objects.filter(host=host).only("containers")
            for c in row.containers or []
            if c.get("id") == container_id
        ),
        None,
    )
    context = {
        "scope": "container",
        "host": host,
        "container_id": container_id,
        "container_name": name,
        "here_url": reverse("vulns:container", args=[host.pk, container_id]),
    }
    return _cves_page(request, context, host_id=host.pk, container_id=container_id)


@require(Perm.VIEW_VULNS)
@require_GET
def report_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    report = get_for_user(request.user, Perm.VIEW_VULNS, ImageReport.objects.select_related("uploaded_by"), pk=pk)
    context = {
        "report": report,
        "vulns": list(report.vulnerabilities.all()[:2000]),
        "total": report.vulnerabilities.count(),
        "places": queries.report_places(report),
    }
    return render(request, "vulns/report.html", context)


@require(Perm.UPLOAD_REPORT)
@require_http_methods(["GET", "POST"])
def upload(request: HtmxHttpRequest) -> HttpResponse:
    form = ReportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            stored = services.store_report(form.cleaned_data["report"], source="upload", user=request.user)
        except services.StaleReport as exc:
            form.add_error("report", f"{str(exc).capitalize()}. Nothing was stored.")
        else:
            messages.success(request, f"Report #{stored.pk} stored: {stored.scanner} report of {stored.name}.")
            return redirect_to(request, reverse("vulns:report", args=[stored.pk]))
    recent = ImageReport.objects.order_by("-received", "-id")[:20]
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "vulns/upload.html", {"form": form, "recent": list(recent)}, status=status)


def _waivers(show: str) -> QuerySet[CveWaiver]:
    today = timezone.now().date()
    qs = CveWaiver.objects.select_related("host", "created_by").defer(*(f"host__{f}" for f in CREDENTIAL_FIELDS))
    if show == "active":
        return qs.filter(revoked__isnull=True, expires__gt=today)
    if show == "expired":
        return qs.filter(revoked__isnull=True, expires__lte=today)
    if show == "revoked":
        return qs.filter(revoked__isnull=False)
    return qs


@require(Perm.VIEW_CVE_WAIVER)
@require_GET
def waiver_list(request: HtmxHttpRequest) -> HttpResponse:
    show = request.GET.get("show", "active")
    show = show if show in WAIVER_FILTERS else "active"
    context = {
        "waivers": list(_waivers(show).order_by("expires", "id")[:500]),
        "show": show,
        "filters": WAIVER_FILTERS,
        "today": timezone.now().date(),
        "can_add": can(request.user, Perm.ADD_CVE_WAIVER),
        "can_revoke": can(request.user, Perm.CHANGE_CVE_WAIVER),
    }
    return render_page(request, "vulns/waivers.html", context, partials=["cve-waiver-list"])


@require(Perm.ADD_CVE_WAIVER)
@require_http_methods(["GET", "POST"])
def waiver_add(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = CveWaiverForm(request.POST)
        if form.is_valid():
            waiver = services.save_cve_waiver(form.save(commit=False), user=request.user)
            messages.success(request, f"CVE waiver #{waiver.pk} saved: {waiver.cve_id} {waiver.scope_text}.")
            return redirect_to(request, reverse("vulns:waivers"))
    else:
        initial: dict[str, object] = {
            "owner": request.user.get_username(),
            "expires": timezone.now().date() + timedelta(days=90),
            "cve_id": request.GET.get("cve", "")[:200],
        }
        host_id = request.GET.get("host", "")
        if host_id.isdigit():
            initial["host"] = int(host_id)
        form = CveWaiverForm(initial=initial)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "vulns/waiver_form.html", {"form": form}, status=status)


@require(Perm.CHANGE_CVE_WAIVER)
@require_POST
def waiver_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    waiver = get_for_user(request.user, Perm.CHANGE_CVE_WAIVER, CveWaiver, pk=pk)
    if services.revoke_cve_waiver(waiver, user=request.user):
        messages.success(request, f"CVE waiver #{waiver.pk} revoked: {waiver.cve_id} counts again.")
    else:
        messages.info(request, f"CVE waiver #{waiver.pk} was revoked already.")
    return redirect_to(request, reverse("vulns:waivers") + "?show=all")
