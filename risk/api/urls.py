from django.urls import path
from rest_framework.routers import SimpleRouter

from risk.api import views

router = SimpleRouter(trailing_slash=False)
router.register("symbol-locks", views.SymbolLockViewSet, basename="symbol-lock")
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("config-versions", views.ConfigVersionViewSet, basename="config-version")

urlpatterns = [
    path("stops/pause-entries", views.PauseEntriesView.as_view(), name="stop-pause-entries"),
    path("stops/halt", views.HaltView.as_view(), name="stop-halt"),
    path("stops/flatten", views.FlattenView.as_view(), name="stop-flatten"),
    path("stops/release", views.ReleaseView.as_view(), name="stop-release"),
    path("symbol-lists", views.SymbolListsView.as_view(), name="symbol-lists"),
    *router.urls,
]
