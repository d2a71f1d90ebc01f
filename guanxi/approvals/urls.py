from django.urls import path

from guanxi.approvals import views

app_name = "approvals"
urlpatterns = [
    path("", views.waiting, name="waiting"),
    path("<id:pk>/", views.detail, name="detail"),
    path("<id:pk>/decide/", views.decide, name="decide"),
    path("<id:pk>/cancel/", views.cancel, name="cancel"),
    path("link/<str:token>/", views.link, name="link"),
    path("submit/", views.submit, name="submit"),
    path("delegation/", views.delegation, name="delegation"),
    path("settings/", views.flows, name="flows"),
    path("settings/new/", views.flow_edit, name="flow_create"),
    path("settings/<id:pk>/", views.flow_edit, name="flow_edit"),
]
