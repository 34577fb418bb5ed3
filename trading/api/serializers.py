from decimal import Decimal

from rest_framework import serializers


class AccountQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(
        required=False, min_value=1, help_text="Account id; may be omitted when you can see exactly one account."
    )


class AccountRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    exchange = serializers.CharField()
    quote_currency = serializers.CharField()


class PnlSerializer(serializers.Serializer):
    today = serializers.CharField()
    today_pct = serializers.CharField()
    week = serializers.CharField()
    week_pct = serializers.CharField()
    total = serializers.CharField()
    total_pct = serializers.CharField()


class PositionSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    quantity = serializers.CharField()
    average_cost = serializers.CharField()
    mark_price = serializers.CharField(allow_null=True)
    market_value = serializers.CharField()
    unrealized_pnl = serializers.CharField()
    realized_pnl = serializers.CharField()


class ConfigRefSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    sha256 = serializers.CharField()


class StatusSerializer(serializers.Serializer):
    """Documents the status shape; the data itself comes from trading.serializers.account_state,
    the same dict the dashboard and the live push use. Money fields are decimal strings."""

    account = AccountRefSerializer()
    seq = serializers.IntegerField(help_text="Sequence number of the account's live stream.")
    mode = serializers.ChoiceField(choices=["DRY_RUN", "PAPER", "LIVE"])
    stop_level = serializers.ChoiceField(choices=["none", "pause_entries", "halt", "flatten"])
    stop_reason = serializers.CharField(allow_blank=True)
    equity = serializers.CharField()
    cash = serializers.CharField()
    pnl = PnlSerializer()
    exposure_pct = serializers.CharField()
    positions = PositionSerializer(many=True)
    config = ConfigRefSerializer(allow_null=True)
    last_tick_at = serializers.DateTimeField(allow_null=True)


# --- lists (documented shapes; the rows come from values() through genesis_site.api.plain) ---

MONEY_HELP = "Decimal string in the account's quote currency."


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    exchange_id = serializers.CharField()
    mode = serializers.ChoiceField(choices=["DRY_RUN", "PAPER", "LIVE"])
    quote_currency = serializers.CharField()
    starting_balance = serializers.CharField(help_text=MONEY_HELP)
    cash_balance = serializers.CharField(help_text=MONEY_HELP)
    symbols = serializers.ListField(child=serializers.CharField())
    read_only = serializers.BooleanField()
    stop_level = serializers.ChoiceField(choices=["none", "pause_entries", "halt", "flatten"])
    stop_reason = serializers.CharField(allow_blank=True)
    last_tick_at = serializers.DateTimeField(allow_null=True)


class StrategySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    tier = serializers.ChoiceField(choices=["sniper", "hunter", "strategist"])
    state = serializers.ChoiceField(choices=["active", "paused", "disabled"])
    enabled = serializers.BooleanField()
    risk_budget = serializers.CharField(help_text="Share of equity, decimal string.")
    symbols = serializers.ListField(child=serializers.CharField())
    params = serializers.DictField()


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    strategy_id = serializers.IntegerField(allow_null=True)
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    order_type = serializers.ChoiceField(choices=["market", "limit"])
    amount = serializers.CharField()
    price = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(
        choices=["new", "submitted", "partially_filled", "filled", "cancelled", "rejected", "expired"]
    )
    client_order_id = serializers.CharField()
    exchange_order_id = serializers.CharField(allow_blank=True)
    filled_amount = serializers.CharField()
    average_price = serializers.CharField(allow_null=True)
    fee = serializers.CharField()
    fee_currency = serializers.CharField(allow_blank=True)
    realized_pnl = serializers.CharField(help_text=MONEY_HELP)
    correlation_id = serializers.CharField(allow_blank=True)
    reject_reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class FillSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    amount = serializers.CharField()
    price = serializers.CharField()
    fee = serializers.CharField()
    fee_currency = serializers.CharField()
    liquidity = serializers.ChoiceField(choices=["maker", "taker"])
    exchange_trade_id = serializers.CharField()
    created_at = serializers.DateTimeField()


class PositionRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    symbol = serializers.CharField()
    quantity = serializers.CharField()
    average_cost = serializers.CharField()
    realized_pnl = serializers.CharField(help_text=MONEY_HELP)
    mark_price = serializers.CharField(allow_null=True)
    opened_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


# --- commands ----------------------------------------------------------------------------------


class AccountCommandSerializer(serializers.Serializer):
    account = serializers.IntegerField(
        required=False, min_value=1, help_text="Account id; may be omitted when you can see exactly one account."
    )
    reason = serializers.CharField(max_length=500, help_text="Why; recorded in the audit trail.")


class ManualTradeSerializer(AccountCommandSerializer):
    symbol = serializers.RegexField(
        r"^[A-Z0-9._-]{1,15}/[A-Z0-9._:-]{1,16}$",
        help_text="Market, BASE/QUOTE (e.g. BTC/USDT).",
        error_messages={"invalid": "Use BASE/QUOTE in capitals, e.g. BTC/USDT."},
    )


class ForceEntrySerializer(ManualTradeSerializer):
    amount = serializers.DecimalField(
        max_digits=28, decimal_places=10, min_value=Decimal("0.0000000001"), help_text="Base-currency amount to buy."
    )


class ForceExitSerializer(ManualTradeSerializer):
    amount = serializers.DecimalField(
        max_digits=28,
        decimal_places=10,
        min_value=Decimal("0.0000000001"),
        required=False,
        help_text="Base-currency amount to sell; the whole position when omitted.",
    )


class StrategyCommandSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why; recorded in the audit trail.")


# --- performance -------------------------------------------------------------------------------


class PerformanceRowSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Symbol or strategy name.")
    orders = serializers.IntegerField()
    exits = serializers.IntegerField()
    wins = serializers.IntegerField()
    realized_pnl = serializers.CharField(help_text=MONEY_HELP)
    fees = serializers.CharField(help_text=MONEY_HELP)


class PerformanceSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    by = serializers.ChoiceField(choices=["symbol", "strategy"])
    rows = PerformanceRowSerializer(many=True)


class PerformanceQuerySerializer(AccountQuerySerializer):
    by = serializers.ChoiceField(choices=["symbol", "strategy"], default="symbol")


class ProfitQuerySerializer(AccountQuerySerializer):
    period = serializers.ChoiceField(choices=["daily", "weekly", "monthly"], default="daily")
    periods = serializers.IntegerField(min_value=1, max_value=366, default=30, help_text="How many periods back.")


class ProfitRowSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField()
    closing_equity = serializers.CharField(help_text=MONEY_HELP)
    profit = serializers.CharField(help_text=MONEY_HELP)
    profit_pct = serializers.CharField()


class ProfitSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    period = serializers.ChoiceField(choices=["daily", "weekly", "monthly"])
    rows = ProfitRowSerializer(many=True)


class TradeStatsQuerySerializer(AccountQuerySerializer):
    days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="Only the last N days; all time when omitted."
    )


class TradeStatsSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    win_rate_pct = serializers.CharField()
    gross_profit = serializers.CharField()
    gross_loss = serializers.CharField()
    net_pnl = serializers.CharField()
    profit_factor = serializers.CharField(allow_null=True, help_text="Null when there is no losing trade.")
    average_win = serializers.CharField()
    average_loss = serializers.CharField()
    best = serializers.CharField()
    worst = serializers.CharField()
    fees = serializers.CharField()
