"""Settings pages of outgoing webhooks (mounted at settings/webhooks/)."""

from django.urls import path

from guanxi.webhooks import views

app_name = "webhooks"
urlpatterns = [
    path("", views.endpoint_list, name="endpoints"),
    path("new/", views.endpoint_create, name="create"),
    path("<id:pk>/", views.endpoint_detail, name="endpoint"),
    path("<id:pk>/edit/", views.endpoint_edit, name="edit"),
    path("<id:pk>/enable/", views.endpoint_enable, name="enable"),
    path("<id:pk>/disable/", views.endpoint_disable, name="disable"),
    path("<id:pk>/rotate-secret/", views.endpoint_rotate, name="rotate"),
    path("<id:pk>/delete/", views.endpoint_delete, name="delete"),
    path("deliveries/<id:pk>/", views.delivery_detail, name="delivery"),
    path("deliveries/<id:pk>/redeliver/", views.delivery_redeliver, name="redeliver"),
]
