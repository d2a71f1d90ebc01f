"""Public pool pages (公海), mounted at /pools/."""

from django.urls import path

from guanxi.engagement import views_pool

app_name = "pool"
urlpatterns = [
    path("", views_pool.pool_index, name="index"),
    path("at-risk/", views_pool.pool_at_risk, name="at_risk"),
    path("claim/<id:pk>/", views_pool.pool_claim, name="claim"),
    path("release/<id:pk>/", views_pool.pool_release, name="release"),
]
