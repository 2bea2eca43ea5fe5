from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.access import Perm, get_for_user, require
from core.htmx import HtmxHttpRequest, redirect_to, render_page
from schedules import services
from schedules.forms import ScheduleForm, next_run
from schedules.models import Schedule


@require(Perm.VIEW_SCHEDULE)
@require_GET
def schedule_list(request: HtmxHttpRequest) -> HttpResponse:
    schedules = list(Schedule.objects.select_related("host", "tag"))
    rows = [(schedule, next_run(schedule)) for schedule in schedules]
    return render_page(request, "schedules/schedule_list.html", {"rows": rows}, partials="schedule-table")


@require(Perm.ADD_SCHEDULE)
@require_http_methods(["GET", "POST"])
def schedule_add(request: HtmxHttpRequest) -> HttpResponse:
    form = ScheduleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        schedule = services.save_schedule(form.save(commit=False))
        messages.success(request, f"Schedule {schedule.name} added.")
        return redirect_to(request, reverse("schedules:list"))
    return render_page(
        request, "schedules/schedule_form.html", {"form": form, "schedule": None}, partials="schedule-form"
    )


@require(Perm.CHANGE_SCHEDULE)
@require_http_methods(["GET", "POST"])
def schedule_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = get_for_user(request.user, Perm.CHANGE_SCHEDULE, Schedule, pk=pk)
    form = ScheduleForm(request.POST or None, instance=schedule)
    if request.method == "POST" and form.is_valid():
        schedule = services.save_schedule(form.save(commit=False))
        messages.success(request, f"Schedule {schedule.name} saved.")
        return redirect_to(request, reverse("schedules:list"))
    context = {"form": form, "schedule": schedule}
    return render_page(request, "schedules/schedule_form.html", context, partials="schedule-form")


@require(Perm.CHANGE_SCHEDULE)
@require_POST
def schedule_toggle(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = get_for_user(request.user, Perm.CHANGE_SCHEDULE, Schedule.objects.select_related("host", "tag"), pk=pk)
    services.set_enabled(schedule, not schedule.enabled)
    if request.htmx:
        context = {"schedule": schedule, "next": next_run(schedule)}
        return render_page(request, "schedules/schedule_list.html", context, partials="schedule-row")
    messages.success(request, f"Schedule {schedule.name} {'resumed' if schedule.enabled else 'paused'}.")
    return redirect_to(request, reverse("schedules:list"))


@require(Perm.DELETE_SCHEDULE)
@require_http_methods(["GET", "POST"])
def schedule_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = get_for_user(request.user, Perm.DELETE_SCHEDULE, Schedule.objects.select_related("host", "tag"), pk=pk)
    if request.method == "POST":
        name = schedule.name
        services.delete_schedule(schedule)
        messages.success(request, f"Schedule {name} deleted.")
        return redirect_to(request, reverse("schedules:list"))
    return render_page(
        request, "schedules/schedule_confirm_delete.html", {"schedule": schedule}, partials="schedule-delete"
    )
