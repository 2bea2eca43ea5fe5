from django.urls import path

from scans import schedule_views

app_name = "schedules"

urlpatterns = [
    path("", schedule_views.schedule_list, name="list"),
    path("add/", schedule_views.schedule_add, name="add"),
    path("<int:pk>/edit/", schedule_views.schedule_edit, name="edit"),
    path("<int:pk>/toggle/", schedule_views.schedule_toggle, name="toggle"),
]
