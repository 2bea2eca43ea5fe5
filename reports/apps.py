from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """PDF reports of the fleet or one host, made by WeasyPrint from the pages' templates. Stands on all the others."""

    name = "reports"
