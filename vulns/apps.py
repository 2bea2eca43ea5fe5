from django.apps import AppConfig


class VulnsConfig(AppConfig):
    """Image vulnerabilities: scanner reports (Trivy, Grype, Clair) matched to the images hosts run. On hosts."""

    name = "vulns"
