from typing import Any

from django.contrib import admin

from reports import services
from reports.models import Report, ReportSchedule


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "requested_by", "schedule", "created", "pages", "size"]
    list_filter = ["status", "kind"]
    raw_id_fields = ["requested_by", "schedule"]
    # Made by a worker: the admin shows a report, it does not write one.
    readonly_fields = ["file", "size", "pages", "scan_ids", "progress", "started", "finished", "run_key"]


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "tag", "crontab", "channel", "enabled"]
    list_filter = ["enabled"]
    raw_id_fields = ["tag", "channel", "periodic_task"]

    def save_model(self, request: Any, obj: ReportSchedule, form: Any, change: bool) -> None:
        # Through the service, so beat's task follows an edit made here too.
        services.save_schedule(obj)
