from django.urls import path

from guanxi.customers import views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("recycle-bin/", views.recycle_bin, name="recycle_bin"),
    path("<id:pk>/restore/", views.customer_restore, name="restore"),
    path("<id:pk>/", views.customer_detail, name="detail"),
    path("<id:pk>/edit/", views.customer_edit, name="edit"),
    path("<id:pk>/delete/", views.customer_delete, name="delete"),
    path("<id:pk>/tab/<slug:tab>/", views.customer_tab, name="tab"),
]
