from django.apps import AppConfig

# The signal module imports no models, so it may be imported before the app registry is ready.
from scans.signals import scan_finished


class NotificationsConfig(AppConfig):
    """Tells people what changed: email and webhook channels, fed by the scans app's scan_finished and by beat.
    Stands on hosts and scans."""

    name = "notifications"

    def ready(self) -> None:
        # The services import models, which the app registry allows only now: Django's idiom for receivers.
        from notifications import services

        scan_finished.connect(services.scan_finished, dispatch_uid="notifications.scan_finished")
