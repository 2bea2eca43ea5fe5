from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from config.htmx import redirect_to, render_page
from scans import services
from scans.models import Schedule
from scans.schedule_forms import ScheduleForm, next_run


@login_required
@permission_required("scans.view_schedule", raise_exception=True)
def schedule_list(request: HttpRequest) -> HttpResponse:
    schedules = list(Schedule.objects.select_related("host", "tag"))
    rows = [(schedule, next_run(schedule)) for schedule in schedules]
    return render_page(request, "schedules/schedule_list.html", {"rows": rows}, partials="schedule-table")


@login_required
@permission_required("scans.add_schedule", raise_exception=True)
@require_http_methods(["GET", "POST"])
def schedule_add(request: HttpRequest) -> HttpResponse:
    form = ScheduleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        schedule = form.save()
        services.sync_schedule(schedule)
        messages.success(request, f"Schedule {schedule.name} added.")
        return redirect_to(request, reverse("schedules:list"))
    return render_page(
        request, "schedules/schedule_form.html", {"form": form, "schedule": None}, partials="schedule-form"
    )


@login_required
@permission_required("scans.change_schedule", raise_exception=True)
@require_http_methods(["GET", "POST"])
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_or_404(Schedule, pk=pk)
    form = ScheduleForm(request.POST or None, instance=schedule)
    if request.method == "POST" and form.is_valid():
        schedule = form.save()
        services.sync_schedule(schedule)
        messages.success(request, f"Schedule {schedule.name} saved.")
        return redirect_to(request, reverse("schedules:list"))
    context = {"form": form, "schedule": schedule}
    return render_page(request, "schedules/schedule_form.html", context, partials="schedule-form")


@login_required
@permission_required("scans.change_schedule", raise_exception=True)
@require_POST
def schedule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_or_404(Schedule.objects.select_related("host", "tag"), pk=pk)
    schedule.enabled = not schedule.enabled
    schedule.save(update_fields=["enabled"])
    services.sync_schedule(schedule)
    if request.htmx:
        context = {"schedule": schedule, "next": next_run(schedule)}
        return render_page(request, "schedules/schedule_list.html", context, partials="schedule-row")
    messages.success(request, f"Schedule {schedule.name} {'resumed' if schedule.enabled else 'paused'}.")
    return redirect_to(request, reverse("schedules:list"))
