"""Inbound webhooks: `POST /inbound/<slug>/` (trailing slash optional) and the sources page."""

from django.urls import path

from guanxi.customers import views_inbound as views

app_name = "inbound"
urlpatterns = [
    path("", views.sources, name="sources"),
    path("<slug:slug>/", views.receive, name="receive"),
    # Senders that drop the trailing slash must not be redirected (a redirected POST loses its body).
    path("<slug:slug>", views.receive, name="receive_no_slash"),
]
