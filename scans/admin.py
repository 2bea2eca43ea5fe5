from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from scans.models import Scan, WaiverPolicy


@admin.register(Scan)
class ScanAdmin(admin.ModelAdmin):
    list_display = ["id", "host", "status", "trigger", "created", "started", "finished"]
    list_filter = ["status", "trigger", "host"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]
    readonly_fields = ["created"]
    date_hierarchy = "created"


@admin.register(WaiverPolicy)
class WaiverPolicyAdmin(admin.ModelAdmin):
    """The one policy row: Admins set how far ahead a waiver may expire (scans.forms checks it)."""

    list_display = ["__str__", "max_days"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not WaiverPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: WaiverPolicy | None = None) -> bool:
        return False
