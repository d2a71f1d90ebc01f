from django.urls import path

from guanxi.sales import views

app_name = "deals"
urlpatterns = [
    path("", views.board, name="board"),
    path("new/", views.deal_create, name="create"),
    path("<id:pk>/", views.deal_detail, name="detail"),
    path("<id:pk>/edit/", views.deal_edit, name="edit"),
    path("<id:pk>/move/", views.deal_move, name="move"),
]
