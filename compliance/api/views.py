"""Statements and reports (SPEC C4): parse the query, call compliance.reports, format the output.
CSV and HTML bodies are plain HttpResponses; DRF renders only JSON (statements and errors)."""

from django.http import Http404, HttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from compliance import reports
from compliance.api.serializers import (
    ApiErrorSerializer,
    AuditEventSerializer,
    AuditVerifySerializer,
    PositionHistoryQuerySerializer,
    SignOffCreateSerializer,
    SignOffSerializer,
    StatementQuerySerializer,
    StatementSerializer,
    TradeReportQuerySerializer,
)
from compliance.filtersets import AuditEventFilter, SignOffFilter
from compliance.head import HeadInvalid, audit_head_read
from compliance.models import AuditEvent, SignOff
from compliance.selectors import audit_chain_verify
from compliance.services import signoff_record
from genesis_site.api import WRITE_ERRORS, AccountScopedViewSet, plain
from trading.api.views import account_for, account_from_query, valid

ERRORS = {
    400: OpenApiResponse(ApiErrorSerializer, description="Bad input; `error.fields` names each bad parameter."),
    401: OpenApiResponse(ApiErrorSerializer, description="No or invalid credentials."),
    403: OpenApiResponse(ApiErrorSerializer, description="Not allowed."),
    404: OpenApiResponse(ApiErrorSerializer, description="No such account, or not one you can see."),
    422: OpenApiResponse(
        ApiErrorSerializer,
        description="Well-formed, but no report can be made for it (a month not begun, a range running "
        "backwards or longer than 366 days); `error.fields` names the parameter.",
    ),
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
    return valid(serializer_class, request.query_params)


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


# --- audit events (read, verify) and sign-offs --------------------------------------------------


class AuditReader(BasePermission):
    """The audit trail spans every account, so reading it is for the roles that review it."""

    message = "Only compliance officers, risk managers and admins read the audit trail."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return user.is_superuser or user.groups.filter(name__in=AUDIT_READERS).exists()


AUDIT_READERS = ("compliance_officer", "risk_manager", "admin", "legal")


@extend_schema_view(
    list=extend_schema(
        summary="Audit events in sequence order.", responses={200: AuditEventSerializer(many=True), **ERRORS}
    ),
    retrieve=extend_schema(summary="One audit event by sequence.", responses={200: AuditEventSerializer, **ERRORS}),
)
class AuditEventViewSet(GenericViewSet):
    permission_classes = [IsAuthenticated, AuditReader]
    queryset = AuditEvent.objects.order_by("sequence")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    lookup_field = "sequence"
    fields = tuple(AuditEventSerializer().fields)

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()).values(*self.fields))
        return self.get_paginated_response([plain(r) for r in page])

    def retrieve(self, request, sequence=None):
        row = self.get_queryset().filter(sequence=sequence).values(*self.fields).first() if sequence.isdigit() else None
        if row is None:
            raise Http404(f"Audit event {sequence} not found.")
        return Response(plain(row))

    @extend_schema(
        summary="Verify the hash chain (and the exported head when present); names the first broken sequence.",
        responses={200: AuditVerifySerializer, **ERRORS},
    )
    @action(detail=False, methods=["get"])
    def verify(self, request):
        try:
            result = audit_chain_verify(anchor=audit_head_read())
        except HeadInvalid as exc:
            return Response({"ok": False, "checked": 0, "first_broken_sequence": None, "reason": str(exc)})
        return Response(
            {
                "ok": result.ok,
                "checked": result.checked,
                "first_broken_sequence": result.first_broken_sequence,
                "reason": result.reason,
            }
        )


@extend_schema_view(
    list=extend_schema(
        summary="Sign-offs (history kept), newest first.", responses={200: SignOffSerializer(many=True), **ERRORS}
    ),
    retrieve=extend_schema(summary="One sign-off.", responses={200: SignOffSerializer, **ERRORS}),
)
class SignOffViewSet(AccountScopedViewSet):
    queryset = SignOff.objects.order_by("-signed_at", "-pk")
    serializer_class = SignOffSerializer
    filterset_class = SignOffFilter
    fields = (*(f for f in SignOffSerializer().fields if f != "signed_by"), "signed_by__username")
    renames = {"signed_by__username": "signed_by"}

    @extend_schema(
        summary="Sign off (approve or reject) in a role you hold, bound to the active config hash; audited.",
        request=SignOffCreateSerializer,
        responses={201: SignOffSerializer, **WRITE_ERRORS},
    )
    def create(self, request):
        data = _valid_body(SignOffCreateSerializer, request)
        account = account_for(request, data.get("account"))
        signoff = signoff_record(
            account=account,
            subject=data["subject"],
            subject_ref=data["subject_ref"],
            role=data["role"],
            decision=data["decision"],
            comment=data["comment"],
            user=request.user,
        )
        return Response(self.row(SignOff.objects.filter(pk=signoff.pk).values(*self.fields).get()), status=201)


def _valid_body(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
