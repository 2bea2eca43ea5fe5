from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API under /api/v1/, its tokens and the push door for hosts. The top of the stack."""

    name = "api"

    def ready(self) -> None:
        # Registers the schema's authentication extensions (drf-spectacular finds them by subclass).
        from api import schema  # noqa: F401
