from django.urls import path

from guanxi.automation import views

app_name = "automation"

urlpatterns = [
    path("", views.rule_list, name="rules"),
    path("install/", views.install, name="install"),
    path("new/", views.rule_new, name="new"),
    path("run-selected/", views.run_selected, name="run_selected"),
    path("filter-row/", views.filter_row, name="filter_row"),
    path("group/", views.condition_group, name="group"),
    path("step/", views.step, name="step"),
    path("<int:rule_id>/", views.rule_detail, name="rule"),
    path("<int:rule_id>/edit/", views.rule_edit, name="edit"),
    path("<int:rule_id>/delete/", views.delete, name="delete"),
    path("<int:rule_id>/run/", views.run_manual, name="run"),
    path("<int:rule_id>/enabled/", views.set_enabled, name="enabled"),
    path("<int:rule_id>/retry/", views.retry, name="retry"),
]
