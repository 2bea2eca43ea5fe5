app_name = "hosts"

urlpatterns: list = []
