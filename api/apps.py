from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API under /api/v1/, its tokens and the push door for hosts. The top of the stack."""

    name = "api"
