from django.urls import path

from validation import views

app_name = "validation"
urlpatterns = [
    path("", views.validation_page, name="page"),
    path("runs/<int:run_id>/report.<str:fmt>", views.run_report_view, name="run-report"),
]
