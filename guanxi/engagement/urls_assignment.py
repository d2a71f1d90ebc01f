"""Lead assignment rules, handover (离职交接) and bulk transfer."""

from django.urls import path

from guanxi.engagement import views_assignment as views

app_name = "assignment"
urlpatterns = [
    path("", views.rule_list, name="rules"),
    path("rules/new/", views.rule_edit, name="rule_create"),
    path("rules/<id:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("rules/<id:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("handover/", views.handover_page, name="handover"),
    path("handover/<id:pk>/", views.handover_detail, name="handover_detail"),
    path("transfer/", views.transfer, name="transfer"),
]
