from django.contrib import admin

from hosts.models import CREDENTIAL_FIELDS, Host, Tag, credential_label


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    """Hosts without their credentials: the admin neither shows nor takes them (the host form does, write-only)."""

    list_display = ["name", "url", "enabled", "created"]
    list_filter = ["enabled", "tags"]
    search_fields = ["name", "url"]
    filter_horizontal = ["tags"]
    exclude = CREDENTIAL_FIELDS
    readonly_fields = ["credentials"]

    @admin.display(description="credentials")
    def credentials(self, host: Host) -> str:
        states = []
        for name in CREDENTIAL_FIELDS:
            stored = getattr(host, name)
            label = credential_label(name)
            if stored:
                states.append(f"{label}: {'set' if stored.readable else 'unreadable, enter it again'}")
        return "; ".join(states) or "none stored (set them on the host's edit page)"
