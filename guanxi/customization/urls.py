"""Settings pages for the customisation layer: custom fields, picklists, tags, form layouts."""

from django.urls import path

from guanxi.customization import views as views

app_name = "customization"

urlpatterns = [
    path("", views.index, name="index"),
    path("fields/", views.field_list, name="fields"),
    path("fields/new/", views.field_create, name="field_create"),
    path("fields/<id:pk>/edit/", views.field_edit, name="field_edit"),
    path("fields/<id:pk>/row/", views.field_row, name="field_row"),
    path("fields/<id:pk>/rename/", views.field_rename, name="field_rename"),
    path("fields/<id:pk>/delete/", views.field_delete, name="field_delete"),
    path("fields/<id:pk>/restore/", views.field_restore, name="field_restore"),
    path("picklists/", views.picklist_list, name="picklists"),
    path("picklists/new/", views.picklist_create, name="picklist_create"),
    path("picklists/<id:pk>/", views.picklist_edit, name="picklist_edit"),
    path("picklists/<id:pk>/merge/", views.picklist_merge, name="picklist_merge"),
    path("tags/", views.tag_list, name="tags"),
    path("tags/new/", views.tag_edit, name="tag_create"),
    path("tags/<id:pk>/edit/", views.tag_edit, name="tag_edit"),
    path("layouts/", views.layout_edit, name="layouts"),
]
