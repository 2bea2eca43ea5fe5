"""The REST API, versioned: every resource is under /api/v1/."""

app_name = "api"

urlpatterns: list = []
