from django.urls import path

from compliance.api.views import PositionHistoryView, StatementView, TradeReportView

urlpatterns = [
    path("statements", StatementView.as_view(), name="statements"),
    path("reports/trades", TradeReportView.as_view(), name="report-trades"),
    path("reports/positions", PositionHistoryView.as_view(), name="report-positions"),
]
