from django.urls import path

from vulns import views

app_name = "vulns"

# Served under /vulns/ (config/urls.py).
urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("hosts/<int:pk>/", views.host_cves, name="host"),
    path("hosts/<int:pk>/containers/<str:container_id>/", views.container_cves, name="container"),
    path("reports/<int:pk>/", views.report_detail, name="report"),
    path("upload/", views.upload, name="upload"),
    path("waivers/", views.waiver_list, name="waivers"),
    path("waivers/new/", views.waiver_add, name="waiver-add"),
    path("waivers/<int:pk>/revoke/", views.waiver_revoke, name="waiver-revoke"),
]
