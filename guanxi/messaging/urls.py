"""Notification centre pages: `/notifications/`."""

from django.urls import path

from guanxi.messaging import views

app_name = "messaging"
urlpatterns = [
    path("", views.center, name="center"),
    path("badge/", views.badge, name="badge"),
    path("read-all/", views.mark_all_read, name="read_all"),
    path("<id:pk>/read/", views.mark_one_read, name="read"),
    path("<id:pk>/open/", views.open_notification, name="open"),
    path("preferences/", views.preferences, name="preferences"),
    path("deliveries/", views.deliveries, name="deliveries"),
    path("deliveries/<id:pk>/retry/", views.retry, name="retry"),
]
