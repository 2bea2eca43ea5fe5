from django.contrib import admin

from schedules.models import Schedule


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "tag", "crontab_text", "enabled"]
    list_filter = ["enabled"]
    raw_id_fields = ["host", "tag", "periodic_task"]
