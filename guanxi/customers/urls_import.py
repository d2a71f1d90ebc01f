"""Customer import pages (mounted at /imports/)."""

from django.urls import path

from guanxi.customers import views_import as views

app_name = "imports"
urlpatterns = [
    path("", views.index, name="index"),
    path("<id:pk>/", views.job_detail, name="job"),
    path("<id:pk>/preview/", views.preview, name="preview"),
    path("<id:pk>/progress/", views.progress, name="progress"),
    path("<id:pk>/errors.csv", views.error_report, name="errors"),
    path("<id:pk>/resume/", views.resume, name="resume"),
]
