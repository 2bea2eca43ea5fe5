from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class SchedulesConfig(AppConfig):
    """When hosts are scanned: Schedule and its django-celery-beat PeriodicTask. Stands on hosts and scans."""

    name = "schedules"

    def ready(self) -> None:
        # The services import models, which the app registry allows only now: Django's idiom for receivers.
        from schedules import services

        # Workflows that start in the apps below: every new host gets its nightly scan, whoever made it (the
        # host form, the admin, setup_dashboard), and a schedule's beat task goes with it however the schedule
        # goes (deleted alone, or with its host or tag).
        # "hosts.Host" by name: Django resolves a model signal's sender lazily, and no app imports another in a
        # function.
        post_save.connect(services.host_saved, sender="hosts.Host", dispatch_uid="schedules.host_saved")
        post_delete.connect(
            services.schedule_deleted, sender="schedules.Schedule", dispatch_uid="schedules.schedule_deleted"
        )
