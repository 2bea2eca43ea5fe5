from django.urls import path

from schedules import views

app_name = "schedules"

urlpatterns = [
    path("", views.schedule_list, name="list"),
    path("add/", views.schedule_add, name="add"),
    path("<int:pk>/edit/", views.schedule_edit, name="edit"),
    path("<int:pk>/toggle/", views.schedule_toggle, name="toggle"),
    path("<int:pk>/delete/", views.schedule_delete, name="delete"),
]
