"""Each app serves every URL under its own prefix; the root sends a visitor to the fleet overview."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from core import urls as core_urls
from core.access import public

handler403 = "core.views.permission_denied"

urlpatterns = [
    path("", public(RedirectView.as_view(pattern_name="scans:overview", permanent=False)), name="home"),
    path("healthz/", include(core_urls.health_patterns)),
    path("accounts/", include(core_urls.account_patterns)),
    path("audit/", include((core_urls.audit_patterns, "audit"))),
    path("hosts/", include("hosts.urls")),
    path("fleet/", include("scans.urls")),
    path("vulns/", include("vulns.urls")),
    path("schedules/", include("schedules.urls")),
    path("notifications/", include("notifications.urls")),
    path("reports/", include("reports.urls")),
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
]
