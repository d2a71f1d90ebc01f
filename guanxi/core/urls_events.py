from django.urls import path

from guanxi.core import views_events as views

app_name = "events"

urlpatterns = [
    path("", views.dead_letters, name="dead_letters"),
    path("retry/", views.retry, name="retry"),
]
