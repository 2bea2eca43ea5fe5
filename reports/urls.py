from django.urls import path  # noqa: F401 - the views come with the Reports page

app_name = "reports"

urlpatterns: list = []
