from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every feature app stands on: who may do what (access, roles), what happened (the audit trail),
    and how pages answer htmx. Imports no app of ours."""

    name = "core"
    verbose_name = "dockerbench core"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_migrate

        from core import audit, middleware, roles

        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="core.sync_roles")
        user_logged_in.connect(audit.on_login, dispatch_uid="core.audit.login")
        user_logged_in.connect(middleware.renewed_at_login, dispatch_uid="core.session.renewed_at_login")
        user_logged_out.connect(audit.on_logout, dispatch_uid="core.audit.logout")
        user_login_failed.connect(audit.on_login_failed, dispatch_uid="core.audit.login_failed")
        # last_login changes at every login, which has an entry of its own.
        auditlog.register(
            get_user_model(), exclude_fields=["last_login"], mask_fields=["password"], m2m_fields={"groups"}
        )
        auditlog.register(Group, m2m_fields={"permissions"})
