"""The REST API, versioned under /api/v1/, its schema and docs; and the page of one's own API tokens."""

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from api import errors, images, pages, push, views
from api import schema as _schema  # noqa: F401 - registers the authentication extensions the schema describes

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("hosts", views.HostViewSet, basename="host")
router.register("tags", views.TagViewSet, basename="tag")
router.register("scans", views.ScanViewSet, basename="scan")
router.register("findings", views.FindingViewSet, basename="finding")
router.register("waivers", views.WaiverViewSet, basename="waiver")
router.register("reports", views.ReportViewSet, basename="report")
router.register("images", images.ImageReportViewSet, basename="image")
router.register("vulnerabilities", images.VulnerabilityViewSet, basename="vulnerability")
router.register("cve-waivers", images.CveWaiverViewSet, basename="cve_waiver")

urlpatterns = [
    path("tokens/", pages.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", pages.token_revoke, name="token-revoke"),
    path("v1/schema/", views.SchemaView.as_view(), name="schema"),
    path("v1/docs/", views.DocsView.as_view(url_name="api:schema"), name="docs"),
    path("v1/push/", push.receive, name="push"),
    path("v1/", include(router.urls)),
    re_path(r"^.*$", errors.not_found, name="not-found"),
]
