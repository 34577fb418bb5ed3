from rest_framework import serializers

from genesis_site.fields import AmountField, StrictCharField, StrictRegexField


class AccountQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(
        required=False, min_value=1, help_text="Account id; may be omitted when you can see exactly one account."
    )


class AccountRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = StrictCharField()
    exchange = StrictCharField()
    quote_currency = StrictCharField()


class PnlSerializer(serializers.Serializer):
    today = StrictCharField()
    today_pct = StrictCharField()
    week = StrictCharField()
    week_pct = StrictCharField()
    total = StrictCharField()
    total_pct = StrictCharField()


class PositionSerializer(serializers.Serializer):
    symbol = StrictCharField()
    quantity = StrictCharField()
    average_cost = StrictCharField()
    mark_price = StrictCharField(allow_null=True)
    market_value = StrictCharField()
    unrealized_pnl = StrictCharField()
    realized_pnl = StrictCharField()


class ConfigRefSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    sha256 = StrictCharField()


class StatusSerializer(serializers.Serializer):
    """Documents the status shape; the data itself comes from trading.serializers.account_state,
    the same dict the dashboard and the live push use. Money fields are decimal strings."""

    account = AccountRefSerializer()
    seq = serializers.IntegerField(help_text="Sequence number of the account's live stream.")
    mode = serializers.ChoiceField(choices=["DRY_RUN", "PAPER", "LIVE"])
    stop_level = serializers.ChoiceField(choices=["none", "pause_entries", "halt", "flatten"])
    stop_reason = StrictCharField(allow_blank=True)
    equity = StrictCharField()
    cash = StrictCharField()
    pnl = PnlSerializer()
    exposure_pct = StrictCharField()
    positions = PositionSerializer(many=True)
    config = ConfigRefSerializer(allow_null=True)
    last_tick_at = serializers.DateTimeField(allow_null=True)


# --- lists (documented shapes; the rows come from values() through genesis_site.api.plain) ---

MONEY_HELP = "Decimal string in the account's quote currency."


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = StrictCharField()
    exchange_id = StrictCharField()
    mode = serializers.ChoiceField(choices=["DRY_RUN", "PAPER", "LIVE"])
    quote_currency = StrictCharField()
    starting_balance = StrictCharField(help_text=MONEY_HELP)
    cash_balance = StrictCharField(help_text=MONEY_HELP)
    symbols = serializers.ListField(child=StrictCharField())
    read_only = serializers.BooleanField()
    stop_level = serializers.ChoiceField(choices=["none", "pause_entries", "halt", "flatten"])
    stop_reason = StrictCharField(allow_blank=True)
    last_tick_at = serializers.DateTimeField(allow_null=True)
    replay_files = serializers.DictField(
        child=StrictCharField(), help_text="Market data replayed instead of the scenario: symbol to file; empty: none."
    )
    replay_speed = StrictCharField(help_text="Replay time per real time; 0: one candle per tick.")
    replay_started_at = serializers.DateTimeField(allow_null=True)


class StrategySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    name = StrictCharField()
    kind = StrictCharField()
    tier = serializers.ChoiceField(choices=["sniper", "hunter", "strategist"])
    state = serializers.ChoiceField(choices=["active", "paused", "disabled"])
    enabled = serializers.BooleanField()
    risk_budget = StrictCharField(help_text="Share of equity, decimal string.")
    symbols = serializers.ListField(child=StrictCharField())
    params = serializers.DictField()


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    strategy_id = serializers.IntegerField(allow_null=True)
    symbol = StrictCharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    order_type = serializers.ChoiceField(choices=["market", "limit"])
    amount = StrictCharField()
    price = StrictCharField(allow_null=True)
    status = serializers.ChoiceField(
        choices=["new", "submitted", "partially_filled", "filled", "cancelled", "rejected", "expired"]
    )
    client_order_id = StrictCharField()
    exchange_order_id = StrictCharField(allow_blank=True)
    filled_amount = StrictCharField()
    average_price = StrictCharField(allow_null=True)
    fee = StrictCharField()
    fee_currency = StrictCharField(allow_blank=True)
    realized_pnl = StrictCharField(help_text=MONEY_HELP)
    correlation_id = StrictCharField(allow_blank=True)
    reject_reason = StrictCharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class FillSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    symbol = StrictCharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    amount = StrictCharField()
    price = StrictCharField()
    fee = StrictCharField()
    fee_currency = StrictCharField()
    fee_quote = StrictCharField(
        allow_null=True,
        help_text="A fee in a third currency (e.g. BNB) valued in the quote currency at the fill; null otherwise.",
    )
    fee_unpriced = serializers.BooleanField(
        help_text="The fee is in a third currency that had no price at the fill: booked without it (P&L incomplete) "
        "until trading.fees_price_all prices it at the fill's time."
    )
    liquidity = serializers.ChoiceField(choices=["maker", "taker"])
    exchange_trade_id = StrictCharField()
    traded_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the exchange executed the trade; null for paper fills (created_at is that moment).",
    )
    created_at = serializers.DateTimeField()


class PositionRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    symbol = StrictCharField()
    quantity = StrictCharField()
    average_cost = StrictCharField()
    realized_pnl = StrictCharField(help_text=MONEY_HELP)
    mark_price = StrictCharField(allow_null=True)
    dust = serializers.BooleanField(
        help_text="The quantity is fee dust no order can sell (below the lot step, minimum amount or "
        "notional): the position counts as closed."
    )
    opened_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


# --- commands ----------------------------------------------------------------------------------


class AccountCommandSerializer(serializers.Serializer):
    account = serializers.IntegerField(
        required=False, min_value=1, help_text="Account id; may be omitted when you can see exactly one account."
    )
    reason = StrictCharField(max_length=500, help_text="Why; recorded in the audit trail.")


class ManualTradeSerializer(AccountCommandSerializer):
    symbol = StrictRegexField(
        r"^[A-Z0-9._-]{1,15}/[A-Z0-9._:-]{1,16}$",
        help_text="Market, BASE/QUOTE (e.g. BTC/USDT).",
        error_messages={"invalid": "Use BASE/QUOTE in capitals, e.g. BTC/USDT."},
    )


class ForceEntrySerializer(ManualTradeSerializer):
    amount = AmountField(help_text="Base-currency amount to buy.")


class ForceExitSerializer(ManualTradeSerializer):
    amount = AmountField(required=False, help_text="Base-currency amount to sell; the whole position when omitted.")


class ReplaySerializer(serializers.Serializer):
    files = serializers.DictField(
        child=StrictCharField(max_length=500),
        allow_empty=True,
        help_text='OHLCV file per account symbol, e.g. {"BTC/USDT": "btc.csv"}: CSV (timestamp,open,high,low,'
        "close,volume) or ccxt JSON ([[ts, o, h, l, c, v], ...]), read under the server's replay directory "
        "(GENESIS_REPLAY_DIR). Empty: back to the account's scenario.",
    )
    speed = StrictRegexField(
        r"^[0-9]{1,10}(\.[0-9]{1,2})?$",
        required=False,
        default="0",
        help_text="Replay time per real time as a decimal string (60: a one-minute candle per second); "
        "0: one candle per engine tick.",
        error_messages={"invalid": "Use 0 or a positive decimal with at most 2 decimals, e.g. 60."},
    )
    reason = StrictCharField(max_length=500, help_text="Why; recorded in the audit trail.")


class StrategyCommandSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500, help_text="Why; recorded in the audit trail.")


# --- performance -------------------------------------------------------------------------------


class PerformanceRowSerializer(serializers.Serializer):
    name = StrictCharField(help_text="Symbol or strategy name.")
    orders = serializers.IntegerField()
    exits = serializers.IntegerField()
    wins = serializers.IntegerField()
    realized_pnl = StrictCharField(help_text=MONEY_HELP)
    fees = StrictCharField(help_text=MONEY_HELP)


class PerformanceSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    by = serializers.ChoiceField(choices=["symbol", "strategy"])
    rows = PerformanceRowSerializer(many=True)
    unpriced_fees = serializers.IntegerField(
        help_text="Fills whose fee, in a third currency (BNB), had no price at the fill: their fees are left out "
        "of `fees` and P&L, which are incomplete while this is above 0."
    )


class PerformanceQuerySerializer(AccountQuerySerializer):
    by = serializers.ChoiceField(choices=["symbol", "strategy"], default="symbol")


class ProfitQuerySerializer(AccountQuerySerializer):
    period = serializers.ChoiceField(choices=["daily", "weekly", "monthly"], default="daily")
    periods = serializers.IntegerField(min_value=1, max_value=366, default=30, help_text="How many periods back.")


class ProfitRowSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField()
    closing_equity = StrictCharField(help_text=MONEY_HELP)
    profit = StrictCharField(help_text=MONEY_HELP)
    profit_pct = StrictCharField()


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
    win_rate_pct = StrictCharField()
    gross_profit = StrictCharField()
    gross_loss = StrictCharField()
    net_pnl = StrictCharField()
    profit_factor = StrictCharField(allow_null=True, help_text="Null when there is no losing trade.")
    average_win = StrictCharField()
    average_loss = StrictCharField()
    best = StrictCharField()
    worst = StrictCharField()
    fees = StrictCharField()
    unpriced_fees = serializers.IntegerField(
        help_text="Fills whose fee, in a third currency (BNB), had no price at the fill: their fees are left out "
        "of `fees` and P&L, which are incomplete while this is above 0."
    )
