"""Settings pages for sales pipelines (mounted at settings/pipelines/)."""

from django.urls import path

from guanxi.sales import views

app_name = "pipelines"
urlpatterns = [
    path("", views.pipeline_list, name="list"),
    path("new/", views.pipeline_edit, name="create"),
    path("<id:pk>/", views.pipeline_edit, name="edit"),
]
