from django.urls import path

from hosts import views

app_name = "hosts"

urlpatterns = [
    path("", views.host_list, name="list"),
    path("add/", views.host_add, name="add"),
    path("<int:pk>/edit/", views.host_edit, name="edit"),
    path("<int:pk>/delete/", views.host_delete, name="delete"),
    path("<int:pk>/test-connection/", views.host_test_connection, name="test-connection"),
    path("<int:pk>/push-tokens/", views.push_tokens, name="push-tokens"),
    path("<int:pk>/push-tokens/add/", views.push_token_add, name="push-token-add"),
    path("<int:pk>/push-tokens/<int:token_id>/revoke/", views.push_token_revoke, name="push-token-revoke"),
    path("connection-tests/<uuid:test_id>/", views.connection_test, name="connection-test"),
]
