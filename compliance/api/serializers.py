"""Input validation for the report endpoints, and the documented shapes of their JSON.

The checks themselves live in compliance.reports (the management commands use the same ones);
these serializers only map a refused input onto its query parameter.
"""

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from compliance.reports import ReportInputInvalid, moment_parse, month_bounds, report_range_check
from genesis_site.api import ApiError
from trading.api.serializers import AccountQuerySerializer, AccountRefSerializer

SYMBOL_PATTERN = r"^[A-Za-z0-9._-]{1,15}/[A-Za-z0-9._:-]{1,16}$"


def _field_check(check, *args, **kwargs):
    try:
        return check(*args, **kwargs)
    except ReportInputInvalid as exc:
        raise serializers.ValidationError(str(exc)) from None


class StatementQuerySerializer(AccountQuerySerializer):
    month = serializers.CharField(help_text="Calendar month in UTC, YYYY-MM (e.g. 2025-03); not a future month.")
    format = serializers.ChoiceField(
        choices=["json", "html", "csv"], default="json", help_text="json (default), html (printable page) or csv."
    )

    def validate_month(self, value: str) -> str:
        _field_check(month_bounds, value)
        return value


class TradeReportQuerySerializer(AccountQuerySerializer):
    start = serializers.CharField(
        help_text="ISO 8601 date or date-time, included; without an offset it is UTC (e.g. 2025-03-01T00:00:00Z)."
    )
    end = serializers.CharField(help_text="ISO 8601 date or date-time, excluded; after start, at most 366 days later.")

    def validate_start(self, value: str):
        return _field_check(moment_parse, value, field="start")

    def validate_end(self, value: str):
        return _field_check(moment_parse, value, field="end")

    def validate(self, attrs):
        try:
            report_range_check(attrs["start"], attrs["end"])
        except ReportInputInvalid as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        return attrs


class PositionHistoryQuerySerializer(AccountQuerySerializer):
    symbol = serializers.RegexField(
        SYMBOL_PATTERN,
        required=False,
        help_text="Only this market, BASE/QUOTE (e.g. BTC/USDT); all symbols when omitted.",
        error_messages={"invalid": "Use BASE/QUOTE, e.g. BTC/USDT."},
    )


# --- Documented response shapes (the data comes from compliance.reports.statement_data) ---------


class StatementBalanceSerializer(serializers.Serializer):
    ts = serializers.CharField(allow_null=True, help_text="UTC, ISO 8601 with Z.")
    equity = serializers.CharField()
    cash = serializers.CharField()
    positions_value = serializers.CharField()
    source = serializers.ChoiceField(choices=["snapshot", "starting_balance", "carried_forward"])


class StatementSymbolSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    trades = serializers.IntegerField()
    bought = serializers.CharField()
    sold = serializers.CharField()
    buy_notional = serializers.CharField()
    sell_notional = serializers.CharField()
    fees = serializers.CharField(help_text="Sum of the fills' fee_quote.")
    realized_pnl = serializers.CharField()
    cash_flow = serializers.CharField()
    quantity_end = serializers.CharField(help_text="Quantity held at the end of the month.")


class StatementReconciliationSerializer(serializers.Serializer):
    equity_change = serializers.CharField(help_text="Closing minus opening equity.")
    cash_flows = serializers.CharField(help_text="Cash flows of the month's fills (sells in, buys and fees out).")
    position_value_change = serializers.CharField(help_text="Change in the marked value of open positions.")
    expected_change = serializers.CharField(help_text="cash_flows + position_value_change.")
    difference = serializers.CharField(help_text="equity_change - expected_change.")
    reconciled = serializers.BooleanField(help_text="The difference is under half a cent.")


class StatementFillSerializer(serializers.Serializer):
    timestamp_utc = serializers.CharField()
    venue = serializers.CharField()
    account = serializers.CharField()
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    quantity = serializers.CharField()
    price = serializers.CharField()
    notional = serializers.CharField()
    fee = serializers.CharField(help_text="In fee_currency, exact.")
    fee_currency = serializers.CharField(help_text="The quote currency, or the base asset when the venue took coins.")
    fee_quote = serializers.CharField(
        help_text="The fee in the quote currency; a base-asset fee valued at the fill price, rounded up to the cent."
    )
    liquidity = serializers.ChoiceField(choices=["maker", "taker"])
    client_order_id = serializers.CharField()
    exchange_order_id = serializers.CharField(allow_blank=True)
    exchange_trade_id = serializers.CharField()
    realized_pnl = serializers.CharField()
    cash_flow = serializers.CharField()


class StatementSerializer(serializers.Serializer):
    """Money fields are decimal strings in the account's quote currency; times are UTC."""

    account = AccountRefSerializer()
    month = serializers.CharField()
    period = inline_serializer("StatementPeriod", {"start": serializers.CharField(), "end": serializers.CharField()})
    generated_at = serializers.CharField()
    opening = StatementBalanceSerializer(allow_null=True, help_text="Null when unknown.")
    closing = StatementBalanceSerializer(allow_null=True)
    net_pnl = serializers.CharField(allow_null=True)
    net_pnl_pct = serializers.CharField(allow_null=True)
    realized_pnl = serializers.CharField()
    fees = serializers.CharField()
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
    actor = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField(allow_blank=True)
    object_id = serializers.CharField(allow_blank=True)
    payload = serializers.JSONField()
    config_hash = serializers.CharField(allow_blank=True)
    correlation_id = serializers.CharField(allow_blank=True)
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class AuditVerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    first_broken_sequence = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)


class SignOffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    subject = serializers.ChoiceField(choices=["go_live", "capital_step"])
    subject_ref = serializers.CharField()
    config_hash = serializers.CharField()
    role = serializers.ChoiceField(choices=["legal", "compliance", "risk", "operations"])
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    comment = serializers.CharField()
    signed_by = serializers.CharField(source="signed_by__username")
    signed_at = serializers.DateTimeField()


class SignOffCreateSerializer(AccountQuerySerializer):
    subject = serializers.ChoiceField(choices=["go_live", "capital_step"])
    subject_ref = serializers.CharField(max_length=64, help_text="The decision id, or the ladder step (e.g. 1000).")
    role = serializers.ChoiceField(choices=["legal", "compliance", "risk", "operations"])
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    comment = serializers.CharField(max_length=2000)
