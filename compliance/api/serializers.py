"""Input validation for the report endpoints, and the documented shapes of their JSON.

The checks themselves live in compliance.reports (the management commands use the same ones);
these serializers only map a refused input onto its query parameter.
"""

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from compliance.reports import ReportInputInvalid, moment_parse, month_bounds, report_range_check
from genesis_site.api import ApiError, InputUnprocessable
from genesis_site.fields import StrictCharField, StrictRegexField
from trading.api.serializers import AccountQuerySerializer, AccountRefSerializer

SYMBOL_PATTERN = r"^[A-Za-z0-9._-]{1,15}/[A-Za-z0-9._:-]{1,16}$"


def _rule_check(check, *args, **kwargs):
    """A rule the schema cannot state (a month not begun, a range backwards): 422 naming the field."""
    try:
        return check(*args, **kwargs)
    except ReportInputInvalid as exc:
        raise InputUnprocessable({exc.field: [str(exc)]}) from None


# Exactly what the services parse, so the schema states it (years 1000-9999: datetime's range
# with room for any UTC offset).
_YEAR = r"[1-9][0-9]{3}"
MONTH_PATTERN = rf"^{_YEAR}-(0[1-9]|1[0-2])$"
MOMENT_PATTERN = (
    rf"^{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$"
)
MOMENT_MESSAGE = "Not an ISO 8601 date-time: use e.g. 2025-03-01T00:00:00Z or 2025-03-01."


class StatementQuerySerializer(AccountQuerySerializer):
    month = StrictRegexField(
        MONTH_PATTERN,
        help_text="Calendar month in UTC, YYYY-MM (e.g. 2025-03); not a future month (422).",
        error_messages={"invalid": "Not a month: use YYYY-MM, e.g. 2025-03."},
    )
    format = serializers.ChoiceField(
        choices=["json", "html", "csv"], default="json", help_text="json (default), html (printable page) or csv."
    )

    def rules(self, query: dict) -> None:
        _rule_check(month_bounds, query["month"])


class TradeReportQuerySerializer(AccountQuerySerializer):
    start = StrictRegexField(
        MOMENT_PATTERN,
        help_text="ISO 8601 date or date-time, included; without an offset it is UTC (e.g. 2025-03-01T00:00:00Z).",
        error_messages={"invalid": MOMENT_MESSAGE},
    )
    end = StrictRegexField(
        MOMENT_PATTERN,
        help_text="ISO 8601 date or date-time, excluded; after start, at most 366 days later (else 422).",
        error_messages={"invalid": MOMENT_MESSAGE},
    )

    def rules(self, query: dict) -> None:
        # The pattern is the schema's; whether the day exists (2025-02-30) is the calendar's.
        for field in ("start", "end"):
            query[field] = _rule_check(moment_parse, query[field], field=field)
        _rule_check(report_range_check, query["start"], query["end"])


class PositionHistoryQuerySerializer(AccountQuerySerializer):
    symbol = StrictRegexField(
        SYMBOL_PATTERN,
        required=False,
        help_text="Only this market, BASE/QUOTE (e.g. BTC/USDT); all symbols when omitted.",
        error_messages={"invalid": "Use BASE/QUOTE, e.g. BTC/USDT."},
    )


# --- Documented response shapes (the data comes from compliance.reports.statement_data) ---------


class StatementBalanceSerializer(serializers.Serializer):
    ts = StrictCharField(allow_null=True, help_text="UTC, ISO 8601 with Z.")
    equity = StrictCharField()
    cash = StrictCharField()
    positions_value = StrictCharField()
    source = serializers.ChoiceField(choices=["snapshot", "starting_balance", "carried_forward"])


class StatementSymbolSerializer(serializers.Serializer):
    symbol = StrictCharField()
    trades = serializers.IntegerField()
    bought = StrictCharField()
    sold = StrictCharField()
    buy_notional = StrictCharField()
    sell_notional = StrictCharField()
    fees = StrictCharField(help_text="Sum of the fills' fee_quote.")
    realized_pnl = StrictCharField()
    cash_flow = StrictCharField()
    quantity_end = StrictCharField(help_text="Quantity held at the end of the month.")


class StatementReconciliationSerializer(serializers.Serializer):
    equity_change = StrictCharField(help_text="Closing minus opening equity.")
    cash_flows = StrictCharField(help_text="Cash flows of the month's fills (sells in, buys and fees out).")
    position_value_change = StrictCharField(help_text="Change in the marked value of open positions.")
    expected_change = StrictCharField(help_text="cash_flows + position_value_change.")
    difference = StrictCharField(help_text="equity_change - expected_change.")
    reconciled = serializers.BooleanField(help_text="The difference is under half a cent.")


class StatementFillSerializer(serializers.Serializer):
    timestamp_utc = StrictCharField()
    venue = StrictCharField()
    account = StrictCharField()
    symbol = StrictCharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    quantity = StrictCharField()
    price = StrictCharField()
    notional = StrictCharField()
    fee = StrictCharField(help_text="In fee_currency, exact.")
    fee_currency = StrictCharField(help_text="The quote currency, or the base asset when the venue took coins.")
    fee_quote = StrictCharField(
        allow_null=True,
        help_text="The fee in the quote currency; a base-asset fee valued at the fill price, rounded up to the cent; "
        "a third-currency fee (BNB) at its price at the fill; null when no price was found (figures incomplete).",
    )
    liquidity = serializers.ChoiceField(choices=["maker", "taker"])
    client_order_id = StrictCharField()
    exchange_order_id = StrictCharField(allow_blank=True)
    exchange_trade_id = StrictCharField()
    realized_pnl = StrictCharField()
    cash_flow = StrictCharField()


class StatementSerializer(serializers.Serializer):
    """Money fields are decimal strings in the account's quote currency; times are UTC."""

    account = AccountRefSerializer()
    month = StrictCharField()
    period = inline_serializer("StatementPeriod", {"start": StrictCharField(), "end": StrictCharField()})
    generated_at = StrictCharField()
    opening = StatementBalanceSerializer(allow_null=True, help_text="Null when unknown.")
    closing = StatementBalanceSerializer(allow_null=True)
    net_pnl = StrictCharField(allow_null=True)
    net_pnl_pct = StrictCharField(allow_null=True)
    realized_pnl = StrictCharField()
    fees = StrictCharField()
    unpriced_fees = serializers.IntegerField(
        help_text="Fills whose fee, in a third currency, had no price at the fill: left out of fees and P&L, "
        "which are then incomplete."
    )
    trades = serializers.IntegerField()
    symbols = StatementSymbolSerializer(many=True)
    reconciliation = StatementReconciliationSerializer(allow_null=True, help_text="Null when opening is unknown.")
    fills = StatementFillSerializer(many=True)


ApiErrorSerializer = ApiError  # the one documented error shape (genesis_site.api)


# --- audit events and sign-offs -------------------------------------------------------------------


class AuditEventSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    ts = serializers.DateTimeField()
    actor_type = serializers.ChoiceField(choices=["user", "bot", "system"])
    actor = StrictCharField()
    action = StrictCharField()
    object_type = StrictCharField(allow_blank=True)
    object_id = StrictCharField(allow_blank=True)
    payload = serializers.JSONField()
    config_hash = StrictCharField(allow_blank=True)
    correlation_id = StrictCharField(allow_blank=True)
    prev_hash = StrictCharField()
    hash = StrictCharField()


class AuditVerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    first_broken_sequence = serializers.IntegerField(allow_null=True)
    reason = StrictCharField(allow_blank=True)


class SignOffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    subject = serializers.ChoiceField(choices=["go_live", "capital_step"])
    subject_ref = StrictCharField()
    config_hash = StrictCharField()
    role = serializers.ChoiceField(choices=["legal", "compliance", "risk", "operations"])
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    comment = StrictCharField()
    signed_by = StrictCharField(source="signed_by__username")
    signed_at = serializers.DateTimeField()


class SignOffCreateSerializer(AccountQuerySerializer):
    subject = serializers.ChoiceField(choices=["go_live", "capital_step"])
    subject_ref = StrictCharField(max_length=64, help_text="The decision id, or the ladder step (e.g. 1000).")
    role = serializers.ChoiceField(choices=["legal", "compliance", "risk", "operations"])
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    comment = StrictCharField(max_length=2000)
