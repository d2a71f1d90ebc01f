from django.urls import path

from guanxi.engagement import views

app_name = "engagement"
urlpatterns = [
    path("customers/<id:customer_id>/follow-up/", views.log_follow_up, name="log_follow_up"),
    path("customers/<id:customer_id>/task/", views.create_task, name="create_task"),
    path("customers/<id:customer_id>/cadence/", views.start_cadence, name="start_cadence"),
    path("tasks/<id:task_id>/done/", views.complete_task, name="complete_task"),
    path("tasks/<id:task_id>/cancel/", views.cancel_task, name="cancel_task"),
    path("cadences/<id:enrollment_id>/", views.cadence_state, name="cadence_state"),
]
