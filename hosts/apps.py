from django.apps import AppConfig


class HostsConfig(AppConfig):
    """The fleet's inventory: hosts, tags, credentials, the connection test. Imports core and the engine only."""

    name = "hosts"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from hosts.models import CREDENTIAL_FIELDS, Host, Tag

        # The trail says a credential was set, changed or cleared, never any of its text (core.audit.hide_secret).
        auditlog.register(Host, mask_fields=list(CREDENTIAL_FIELDS), m2m_fields={"tags"})
        auditlog.register(Tag)
