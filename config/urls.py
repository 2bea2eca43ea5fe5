from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("hosts/", include("hosts.urls")),
    path("schedules/", include("scans.schedule_urls")),
    path("", include("scans.urls")),
]
