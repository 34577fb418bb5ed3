from django.urls import path
from rest_framework.routers import SimpleRouter

from trading.api import views

router = SimpleRouter(trailing_slash=False)
router.register("accounts", views.AccountViewSet, basename="account")
router.register("strategies", views.StrategyViewSet, basename="strategy")
router.register("orders", views.OrderViewSet, basename="order")
router.register("fills", views.FillViewSet, basename="fill")
router.register("positions", views.PositionViewSet, basename="position")

urlpatterns = [
    path("status", views.StatusView.as_view(), name="status"),
    path("manual/force-entry", views.ForceEntryView.as_view(), name="force-entry"),
    path("manual/force-exit", views.ForceExitView.as_view(), name="force-exit"),
    path("performance", views.PerformanceView.as_view(), name="performance"),
    path("profit", views.ProfitView.as_view(), name="profit"),
    path("trade-stats", views.TradeStatsView.as_view(), name="trade-stats"),
    *router.urls,
]
