"""Statements and reports (SPEC C4): parse the query, call compliance.reports, format the output.
CSV and HTML bodies are plain HttpResponses; DRF renders only JSON (statements and errors)."""

from django.http import HttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import reports
from compliance.api.serializers import (
    ApiErrorSerializer,
    PositionHistoryQuerySerializer,
    StatementQuerySerializer,
    StatementSerializer,
    TradeReportQuerySerializer,
)
from trading.api.views import account_from_query

ERRORS = {
    400: OpenApiResponse(ApiErrorSerializer, description="Bad input; `error.fields` names each bad parameter."),
    401: OpenApiResponse(ApiErrorSerializer, description="No or invalid credentials."),
    403: OpenApiResponse(ApiErrorSerializer, description="Not allowed."),
    404: OpenApiResponse(ApiErrorSerializer, description="No such account, or not one you can see."),
}


def _csv_doc(description: str, header: tuple[str, ...]) -> OpenApiResponse:
    example = OpenApiExample("header", value=",".join(header) + "\r\n", media_type="text/csv")
    return OpenApiResponse(OpenApiTypes.STR, description=description, examples=[example])


class ReportNegotiation(BaseContentNegotiation):
    """Here `?format=` names the statement's format, not a DRF renderer, and CSV or HTML bodies
    bypass the renderers; so always render JSON, whatever `format` or Accept say, and an error
    is never turned into a 404 or 406 by content negotiation."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _valid(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _attachment(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _slug(account) -> str:
    return slugify(account.name) or f"account-{account.pk}"


class ReportView(APIView):
    content_negotiation_class = ReportNegotiation


class StatementView(ReportView):
    @extend_schema(
        summary="Monthly P&L statement of an account: JSON, printable HTML or CSV.",
        description=(
            "Opening and closing equity, net and realized P&L, fees, trades, a per-symbol breakdown, the "
            "month's fills, and a reconciliation of the equity change with the fills' cash flows plus the "
            "change in marked position value. The month is a calendar month in UTC. The CSV has three "
            "blocks (Summary, Symbols, Fills), each a title row and a header row."
        ),
        parameters=[StatementQuerySerializer],
        responses={
            (200, "application/json"): StatementSerializer,
            (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="With format=html."),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="With format=csv, as an attachment."),
            **ERRORS,
        },
    )
    def get(self, request):
        query = _valid(StatementQuerySerializer, request)
        account = account_from_query(request)
        statement = reports.monthly_statement(account=account, month=query["month"])
        if query["format"] == "html":
            return HttpResponse(reports.statement_html(statement), content_type="text/html; charset=utf-8")
        if query["format"] == "csv":
            return _attachment(reports.statement_csv(statement), f"statement-{_slug(account)}-{statement.month}.csv")
        return Response(reports.statement_data(statement))


class TradeReportView(ReportView):
    @extend_schema(
        summary="Trade report: the account's fills in a UTC time range, as CSV.",
        description=(
            "One row per fill with start <= time < end, oldest first. Columns: "
            + ", ".join(f"`{c}`" for c in reports.TRADE_REPORT_COLUMNS)
            + ". Times are ISO 8601 UTC with a Z; numbers are plain decimal strings."
        ),
        parameters=[TradeReportQuerySerializer],
        responses={(200, "text/csv"): _csv_doc("CSV attachment.", reports.TRADE_REPORT_COLUMNS), **ERRORS},
    )
    def get(self, request):
        query = _valid(TradeReportQuerySerializer, request)
        account = account_from_query(request)
        start, end = query["start"], query["end"]
        rows = reports.trade_report_rows(account=account, start=start, end=end)
        name = f"trades-{_slug(account)}-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.csv"
        return _attachment(reports.trade_report_csv(rows), name)


class PositionHistoryView(ReportView):
    @extend_schema(
        summary="Position history: the position after each fill, as CSV.",
        description=(
            "One row per fill, oldest first, replayed from the account's first fill. Columns: "
            + ", ".join(f"`{c}`" for c in reports.POSITION_HISTORY_COLUMNS)
            + "."
        ),
        parameters=[PositionHistoryQuerySerializer],
        responses={(200, "text/csv"): _csv_doc("CSV attachment.", reports.POSITION_HISTORY_COLUMNS), **ERRORS},
    )
    def get(self, request):
        query = _valid(PositionHistoryQuerySerializer, request)
        account = account_from_query(request)
        symbol = query.get("symbol")
        steps = reports.position_history(account=account, symbol=symbol)
        suffix = f"-{slugify(symbol)}" if symbol else ""
        return _attachment(reports.position_history_csv(steps), f"positions-{_slug(account)}{suffix}.csv")
