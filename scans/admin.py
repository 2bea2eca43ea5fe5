from django.contrib import admin

from scans.models import Scan


@admin.register(Scan)
class ScanAdmin(admin.ModelAdmin):
    list_display = ["id", "host", "status", "trigger", "created", "started", "finished"]
    list_filter = ["status", "trigger", "host"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]
    readonly_fields = ["created"]
    date_hierarchy = "created"
