from django.urls import path

from guanxi.engagement import views

app_name = "engagement"
urlpatterns = [
    path("customers/<int:customer_id>/follow-up/", views.log_follow_up, name="log_follow_up"),
    path("customers/<int:customer_id>/task/", views.create_task, name="create_task"),
    path("customers/<int:customer_id>/cadence/", views.start_cadence, name="start_cadence"),
    path("tasks/<int:task_id>/done/", views.complete_task, name="complete_task"),
    path("cadences/<int:enrollment_id>/", views.cadence_state, name="cadence_state"),
]
