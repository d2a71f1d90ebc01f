"""Customer import pages (mounted at /imports/)."""

from django.urls import path

from guanxi.customers import views_import as views

app_name = "imports"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.job_detail, name="job"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/progress/", views.progress, name="progress"),
    path("<int:pk>/errors.csv", views.error_report, name="errors"),
    path("<int:pk>/resume/", views.resume, name="resume"),
]
