from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from core.access import Perm, can, get_for_user, require
from core.htmx import HtmxHttpRequest, redirect_to, render_page
from hosts.models import Host
from reports import services
from reports.forms import ReportForm, ReportScheduleForm
from reports.models import Report, ReportSchedule

REPORTS_PER_PAGE = 25
_REPORTS = Report.objects.select_related("requested_by", "schedule")
_SCHEDULES = ReportSchedule.objects.select_related("tag", "channel")


def _abilities(user: Any) -> dict[str, bool]:
    return {
        "can_request": can(user, Perm.REQUEST_REPORT),
        "can_delete": can(user, Perm.DELETE_REPORT),
        "can_schedule": can(user, Perm.VIEW_REPORT_SCHEDULE),
    }


def _initial(query: QueryDict) -> dict[str, Any]:
    """The form's starting values from the query string, so another page can link to a prefilled form
    (the host page: ?kind=host&host=ID). Not validated here: a value that fits no choice is just not chosen."""
    initial: dict[str, Any] = {
        name: query[name] for name in ("kind", "host", "tag", "since", "until") if query.get(name)
    }
    sections = query.getlist("sections") or query.getlist("section")
    if sections:
        initial["sections"] = sections
    return initial


def _rows(reports: list[Report]) -> list[dict[str, Any]]:
    """Each report with its parsed parameters and its host's name (one query for all the hosts)."""
    wanted = {report.pk: report.parameters() for report in reports}
    host_ids = {w.host_id for w in wanted.values() if w is not None and w.host_id}
    names = dict(Host.objects.filter(pk__in=host_ids).values_list("pk", "name")) if host_ids else {}
    rows = []
    for report in reports:
        parsed = wanted[report.pk]
        host_id = parsed.host_id if parsed is not None else None
        rows.append({"report": report, "wanted": parsed, "host_name": names.get(host_id) if host_id else None})
    return rows


def _list_page(request: HtmxHttpRequest, form: ReportForm | None) -> HttpResponse:
    page = Paginator(_REPORTS, REPORTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "pager": page,
        "rows": _rows(list(page.object_list)),
        "retention_days": settings.DOCKERBENCH_REPORT_RETENTION_DAYS,
        **_abilities(request.user),
    }
    return render_page(request, "reports/report_list.html", context, partials=["report-table", "report-form"])


@require(Perm.VIEW_REPORT)
@require_GET
def report_list(request: HtmxHttpRequest) -> HttpResponse:
    form = ReportForm(initial=_initial(request.GET)) if can(request.user, Perm.REQUEST_REPORT) else None
    return _list_page(request, form)


@require(Perm.REQUEST_REPORT)
@require_POST
def report_request(request: HtmxHttpRequest) -> HttpResponse:
    form = ReportForm(request.POST)
    if form.is_valid():
        report = services.request_report(form.cleaned_data["params"], request.user)
        messages.info(request, f"{report.title}: queued.")
        return redirect_to(request, reverse("reports:report", args=[report.pk]))
    if request.htmx:
        context = {"form": form, **_abilities(request.user)}
        return render(request, "reports/report_list.html#report-form", context)
    return _list_page(request, form)


def _report_context(request: HtmxHttpRequest, report: Report) -> dict[str, Any]:
    [row] = _rows([report])
    return {**row, **_abilities(request.user)}


@require(Perm.VIEW_REPORT)
@require_GET
def report_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    report = get_for_user(request.user, Perm.VIEW_REPORT, _REPORTS, pk=pk)
    context = _report_context(request, report)
    if request.htmx and not request.htmx.history_restore_request:
        partial = render_to_string("reports/report.html#report-progress", context, request)
        # 286 stops the polling: the partial it carries is the finished one, with the download link.
        return HttpResponseStopPolling(partial) if report.is_finished else HttpResponse(partial)
    return render(request, "reports/report.html", context)


@require(Perm.VIEW_REPORT)
@require_GET
def report_download(request: HtmxHttpRequest, pk: int) -> FileResponse:
    return pdf_response(get_for_user(request.user, Perm.VIEW_REPORT, Report, pk=pk))


def pdf_response(report: Report) -> FileResponse:
    """The report's PDF as a download (this page's and the API's); Http404 before it is made or once it is gone."""
    if report.status != Report.Status.DONE or not report.file:
        raise Http404("This report has no PDF yet.")
    try:
        handle = report.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The PDF of this report is gone.") from exc
    return FileResponse(handle, as_attachment=True, filename=report.download_name, content_type="application/pdf")


@require(Perm.DELETE_REPORT)
@require_POST
def report_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    report = get_for_user(request.user, Perm.DELETE_REPORT, Report, pk=pk)
    title = report.title
    services.delete_report(report)
    messages.success(request, f"{title}: deleted.")
    return redirect_to(request, reverse("reports:list"))


# -- schedules -----------------------------------------------------------------------------------------


@require(Perm.VIEW_REPORT_SCHEDULE)
@require_GET
def schedule_list(request: HtmxHttpRequest) -> HttpResponse:
    context = {"schedules": list(_SCHEDULES)}
    return render_page(request, "reports/schedule_list.html", context, partials="report-schedule-table")


@require(Perm.ADD_REPORT_SCHEDULE)
@require_http_methods(["GET", "POST"])
def schedule_add(request: HtmxHttpRequest) -> HttpResponse:
    form = ReportScheduleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        schedule = services.save_schedule(form.save(commit=False))
        messages.success(request, f"Report schedule {schedule.name} added.")
        return redirect_to(request, reverse("reports:schedules"))
    context = {"form": form, "schedule": None}
    return render_page(request, "reports/schedule_form.html", context, partials="report-schedule-form")


@require(Perm.CHANGE_REPORT_SCHEDULE)
@require_http_methods(["GET", "POST"])
def schedule_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = get_for_user(request.user, Perm.CHANGE_REPORT_SCHEDULE, ReportSchedule, pk=pk)
    form = ReportScheduleForm(request.POST or None, instance=schedule)
    if request.method == "POST" and form.is_valid():
        schedule = services.save_schedule(form.save(commit=False))
        messages.success(request, f"Report schedule {schedule.name} saved.")
        return redirect_to(request, reverse("reports:schedules"))
    context = {"form": form, "schedule": schedule}
    return render_page(request, "reports/schedule_form.html", context, partials="report-schedule-form")


@require(Perm.DELETE_REPORT_SCHEDULE)
@require_http_methods(["GET", "POST"])
def schedule_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = get_for_user(request.user, Perm.DELETE_REPORT_SCHEDULE, _SCHEDULES, pk=pk)
    if request.method == "POST":
        name = schedule.name
        services.delete_schedule(schedule)
        messages.success(request, f"Report schedule {name} deleted.")
        return redirect_to(request, reverse("reports:schedules"))
    return render_page(
        request, "reports/schedule_confirm_delete.html", {"schedule": schedule}, partials="report-schedule-delete"
    )
