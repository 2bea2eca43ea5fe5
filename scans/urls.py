from django.urls import path

from scans import fix_views, import_views, views, waiver_views

app_name = "scans"

# Served under /fleet/ (config/urls.py): the fleet as the scans see it.
urlpatterns = [
    path("", views.overview, name="overview"),
    path("hosts/<int:pk>/", views.host_detail, name="host"),
    path("hosts/<int:pk>/scan/", views.scan_now, name="scan-now"),
    path("hosts/<int:pk>/drift/", views.drift, name="drift"),
    path("hosts/<int:pk>/import/", import_views.import_log, name="import"),
    path("hosts/<int:pk>/fixes/", fix_views.fixes, name="fixes"),
    path("hosts/<int:pk>/fixes/containers/<str:container_id>/", fix_views.container_fix, name="container-fix"),
    path("hosts/<int:pk>/fixes.tar.gz", fix_views.fixes_bundle, name="fixes-bundle"),
    path("scans/<int:pk>/", views.scan_detail, name="scan"),
    path("scans/<int:pk>/progress/", views.scan_progress, name="scan-progress"),
    path("scans/<int:pk>/cancel/", views.scan_cancel, name="scan-cancel"),
    path("scans/<int:pk>/export/<str:fmt>/", views.scan_export, name="scan-export"),
    path("checks/<str:check_id>/", views.check_detail, name="check"),
    path("search/", views.search, name="search"),
    path("risk/", views.risk_help, name="risk-help"),
    path("remediation/", views.remediation, name="remediation"),
    path("waivers/", waiver_views.waiver_list, name="waivers"),
    path("waivers/new/", waiver_views.waiver_add, name="waiver-add"),
    path("waivers/<int:pk>/", waiver_views.waiver_detail, name="waiver"),
    path("waivers/<int:pk>/edit/", waiver_views.waiver_edit, name="waiver-edit"),
    path("waivers/<int:pk>/revoke/", waiver_views.waiver_revoke, name="waiver-revoke"),
]
