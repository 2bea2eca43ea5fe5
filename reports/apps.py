from django.apps import AppConfig
from django.db.models.signals import post_delete


class ReportsConfig(AppConfig):
    """PDF reports of the fleet or one host, made by WeasyPrint from the pages' templates. Stands on all the others."""

    name = "reports"

    def ready(self) -> None:
        # The services import models, which the app registry allows only now: Django's idiom for receivers.
        from reports import services

        # A report schedule's beat task goes with it however it goes (deleted alone, or with its tag).
        post_delete.connect(
            services.schedule_deleted, sender="reports.ReportSchedule", dispatch_uid="reports.schedule_deleted"
        )
