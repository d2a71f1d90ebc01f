"""Data quality pages: overview, duplicate review queue, merge and undo."""

from django.urls import path

from guanxi.customers import views_quality as views

app_name = "quality"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("duplicates/", views.review_queue, name="duplicates"),
    path("duplicates/<id:pk>/decide/", views.decide, name="decide"),
    path("merge/<id:a>/<id:b>/", views.merge, name="merge"),
    path("merges/<id:pk>/undo/", views.undo_merge, name="undo"),
]
