"""Settings pages for the customisation layer: custom fields, picklists, tags, form layouts."""

from django.urls import path  # noqa: F401

app_name = "customization"

urlpatterns: list = []
