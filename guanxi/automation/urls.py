from django.urls import path

from guanxi.automation import views

app_name = "automation"

urlpatterns = [
    path("", views.rule_list, name="rules"),
    path("install/", views.install, name="install"),
    path("<int:rule_id>/", views.rule_detail, name="rule"),
    path("<int:rule_id>/enabled/", views.set_enabled, name="enabled"),
    path("<int:rule_id>/retry/", views.retry, name="retry"),
]
