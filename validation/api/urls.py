from django.urls import path

from validation.api.views import CheckTrendView, GoLiveOverrideView, GoLiveView, RunDetailView, RunListCreateView

urlpatterns = [
    path("validation-runs/", RunListCreateView.as_view(), name="validation-runs"),
    path("validation-runs/<int:run_id>/", RunDetailView.as_view(), name="validation-run"),
    path("validation-checks/<str:name>/trend", CheckTrendView.as_view(), name="validation-check-trend"),
    path("golive", GoLiveView.as_view(), name="golive"),
    path("golive/<int:decision_id>/override", GoLiveOverrideView.as_view(), name="golive-override"),
]
