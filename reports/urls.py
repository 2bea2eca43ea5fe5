from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("new/", views.report_request, name="request"),
    path("<int:pk>/", views.report_detail, name="report"),
    path("<int:pk>/download/", views.report_download, name="download"),
    path("<int:pk>/delete/", views.report_delete, name="delete"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/add/", views.schedule_add, name="schedule-add"),
    path("schedules/<int:pk>/edit/", views.schedule_edit, name="schedule-edit"),
    path("schedules/<int:pk>/delete/", views.schedule_delete, name="schedule-delete"),
]
