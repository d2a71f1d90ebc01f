from django.urls import path

from guanxi.customers import views, views_list

app_name = "customers"
urlpatterns = [
    path("", views_list.customer_list, name="list"),
    path("kanban/", views_list.customer_list, {"layout": "kanban"}, name="kanban"),
    path("kanban/move/", views_list.kanban_move, name="kanban_move"),
    path("export.csv", views_list.export_csv, name="export_csv"),
    path("export.xlsx", views_list.export_xlsx, name="export_xlsx"),
    path("views/save/", views_list.save_view, name="save_view"),
    path("views/<id:pk>/delete/", views_list.delete_view, name="delete_view"),
    path("bulk-tag/", views_list.bulk_tag, name="bulk_tag"),
    path("filter-row/", views_list.filter_row, name="filter_row"),
    path("new/", views.customer_create, name="create"),
    path("recycle-bin/", views.recycle_bin, name="recycle_bin"),
    path("<id:pk>/restore/", views.customer_restore, name="restore"),
    path("<id:pk>/", views.customer_detail, name="detail"),
    path("<id:pk>/edit/", views.customer_edit, name="edit"),
    path("<id:pk>/delete/", views.customer_delete, name="delete"),
    path("<id:pk>/tab/<slug:tab>/", views.customer_tab, name="tab"),
]
