from django.contrib import admin

from hosts.models import Host, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "enabled", "created"]
    list_filter = ["enabled", "tags"]
    search_fields = ["name", "url"]
    filter_horizontal = ["tags"]
