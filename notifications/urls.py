from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.channel_list, name="channels"),
    path("channels/add/", views.channel_add, name="channel-add"),
    path("channels/<int:pk>/edit/", views.channel_edit, name="channel-edit"),
    path("channels/<int:pk>/test/", views.channel_test, name="channel-test"),
    path("channels/<int:pk>/delete/", views.channel_delete, name="channel-delete"),
    path("channels/<int:pk>/deliveries/", views.delivery_log, name="deliveries"),
]
