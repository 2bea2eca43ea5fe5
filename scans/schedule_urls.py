app_name = "schedules"

urlpatterns: list = []
