from django.urls import path
from rest_framework.routers import SimpleRouter

from compliance.api.views import (
    AuditEventViewSet,
    PositionHistoryView,
    SignOffViewSet,
    StatementView,
    TradeReportView,
)

router = SimpleRouter(trailing_slash=False)
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("signoffs", SignOffViewSet, basename="signoff")

urlpatterns = [
    path("statements", StatementView.as_view(), name="statements"),
    path("reports/trades", TradeReportView.as_view(), name="report-trades"),
    path("reports/positions", PositionHistoryView.as_view(), name="report-positions"),
    *router.urls,
]
