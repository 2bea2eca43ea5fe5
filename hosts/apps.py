from django.apps import AppConfig


class HostsConfig(AppConfig):
    """The fleet's inventory: hosts, tags, credentials, the connection test. Imports core and the engine only."""

    name = "hosts"
