import uuid
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from trading.exceptions import IllegalTransition

MONEY = {"max_digits": 28, "decimal_places": 10}
ZERO = Decimal("0")


class TradingMode(models.TextChoices):
    DRY_RUN = "DRY_RUN", "Dry run"
    PAPER = "PAPER", "Paper"
    LIVE = "LIVE", "Live"


class StopLevel(models.TextChoices):
    NONE = "none", "Trading"
    PAUSE_ENTRIES = "pause_entries", "Entries paused"
    HALT = "halt", "Halted"
    FLATTEN = "flatten", "Flattened"


class TaxLotMethod(models.TextChoices):
    FIFO = "FIFO", "First in, first out"
    LIFO = "LIFO", "Last in, first out"
    HIFO = "HIFO", "Highest cost in, first out"


def config_token_new() -> str:
    return uuid.uuid4().hex


class TradingAccount(models.Model):
    name = models.CharField(max_length=64, unique=True)
    exchange_id = models.CharField(max_length=32, default="paper")
    mode = models.CharField(max_length=8, choices=TradingMode.choices, default=TradingMode.PAPER)
    quote_currency = models.CharField(max_length=10, default="USDT")
    starting_balance = models.DecimalField(**MONEY)
    cash_balance = models.DecimalField(**MONEY)
    scenario = models.CharField(max_length=32, default="bull", help_text="Market scenario of the paper feed.")
    scenario_seed = models.PositiveIntegerField(default=42)
    replay_files = models.JSONField(
        default=dict,
        blank=True,
        help_text='OHLCV files to replay instead of the scenario, per symbol, e.g. {"BTC/USDT": "data/btc.csv"} '
        "(CSV or ccxt JSON). Set through trading.services.accounts.account_replay_set, which checks every file.",
    )
    replay_speed = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        help_text="Replay time per real time (60: a one-minute candle per second); 0: one candle per tick.",
    )
    replay_started_at = models.DateTimeField(null=True, blank=True)
    symbols = models.JSONField(default=list, help_text="Tradable symbols, e.g. BTC/USDT.")
    feed_cursor = models.PositiveIntegerField(default=0)
    read_only = models.BooleanField(default=False)
    tax_lot_method = models.CharField(max_length=4, choices=TaxLotMethod.choices, default=TaxLotMethod.FIFO)
    stop_level = models.CharField(max_length=16, choices=StopLevel.choices, default=StopLevel.NONE)
    stop_reason = models.TextField(blank=True)
    tick_seq = models.PositiveBigIntegerField(default=0, help_text="Number of engine ticks run.")
    stream_seq = models.PositiveBigIntegerField(
        default=0, help_text="Sequence number of the live stream: one per event pushed to the dashboards."
    )
    peak_equity = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="Highest equity seen; drawdowns are from it."
    )
    last_tick_at = models.DateTimeField(null=True, blank=True)
    config_token = models.CharField(
        max_length=32,
        default=config_token_new,
        editable=False,
        help_text="Changed by database triggers on every write to the account's strategies, universe or "
        "risk config versions, whoever makes it: the engine keeps those per process while it is unchanged.",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="trading_accounts")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        permissions = [
            ("pause_entries", "Can pause new entries (account, strategy or symbol)"),
            ("halt_trading", "Can halt trading (kill switch)"),
            ("flatten_positions", "Can flatten every position"),
            ("release_stop", "Can release a pause, halt or flatten"),
            ("force_trade", "Can force a manual entry or exit"),
            ("change_mode", "Can switch the trading mode (DRY_RUN, PAPER, LIVE)"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(starting_balance__gt=0), name="account_starting_balance_positive"),
            models.CheckConstraint(condition=Q(cash_balance__gte=0), name="account_cash_not_negative"),
            models.CheckConstraint(condition=Q(replay_speed__gte=0), name="account_replay_speed_not_negative"),
        ]

    def __str__(self):
        return f"{self.name} ({self.mode})"

    def clean(self):
        # Forms (the admin) refuse a replay file that is missing or malformed, naming the line.
        from django.core.exceptions import ValidationError

        from trading.replay import MarketDataInvalid, replay_files_check

        if self.replay_files:
            try:
                self.replay_files = replay_files_check(self.replay_files, symbols=self.symbols or [])
            except MarketDataInvalid as exc:
                raise ValidationError({"replay_files": str(exc)}) from None

    @property
    def group_name(self) -> str:
        return f"account-{self.pk}"


class StrategyTier(models.TextChoices):
    SNIPER = "sniper"
    HUNTER = "hunter"
    STRATEGIST = "strategist"


class StrategyState(models.TextChoices):
    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


class Strategy(models.Model):
    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="strategies")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=64, help_text="Key in the strategy registry.")
    tier = models.CharField(max_length=16, choices=StrategyTier.choices, default=StrategyTier.HUNTER)
    params = models.JSONField(default=dict)
    symbols = models.JSONField(default=list, help_text="Symbols this strategy trades; empty means all.")
    risk_budget = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("0.03"))
    enabled = models.BooleanField(default=True, help_text="Feature flag.")
    state = models.CharField(max_length=16, choices=StrategyState.choices, default=StrategyState.ACTIVE)

    class Meta:
        verbose_name_plural = "strategies"
        permissions = [("pause_strategy", "Can pause and resume a strategy")]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="strategy_unique_name_per_account"),
            models.CheckConstraint(
                condition=Q(risk_budget__gte=0, risk_budget__lte=1), name="strategy_risk_budget_share"
            ),
        ]

    def __str__(self):
        return f"{self.name} [{self.kind}]"


class OrderSide(models.TextChoices):
    BUY = "buy"
    SELL = "sell"


class OrderType(models.TextChoices):
    MARKET = "market"
    LIMIT = "limit"


class OrderStatus(models.TextChoices):
    NEW = "new"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


# SPEC T3: new -> submitted -> partially_filled -> filled | cancelled | rejected | expired.
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.NEW: frozenset({OrderStatus.SUBMITTED, OrderStatus.REJECTED, OrderStatus.CANCELLED}),
    OrderStatus.SUBMITTED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}
OPEN_ORDER_STATUSES = (OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


class Order(models.Model):
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="orders")
    strategy = models.ForeignKey(Strategy, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    order_type = models.CharField(max_length=8, choices=OrderType.choices, default=OrderType.MARKET)
    amount = models.DecimalField(**MONEY)
    price = models.DecimalField(**MONEY, null=True, blank=True, help_text="Limit price; empty for market.")
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW)
    # Sent to the exchange as the client order id: a retried submit hits this constraint.
    idempotency_key = models.CharField(max_length=64, unique=True)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    filled_amount = models.DecimalField(**MONEY, default=ZERO)
    average_price = models.DecimalField(**MONEY, null=True, blank=True)
    fee = models.DecimalField(**MONEY, default=ZERO)
    fee_currency = models.CharField(max_length=10, blank=True)
    realized_pnl = models.DecimalField(**MONEY, default=ZERO, help_text="P&L this order realized (exits).")
    correlation_id = models.CharField(max_length=64, blank=True)
    reject_reason = models.TextField(blank=True)
    # Reconciliation (SPEC T5): consecutive passes the exchange denied knowing this order;
    # it is failed only after several, since exchanges briefly deny real orders.
    reconcile_misses = models.PositiveSmallIntegerField(default=0)
    adopted = models.BooleanField(default=False, help_text="Found open on the exchange with no local order.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "-created_at"], name="order_account_recent"),
            models.Index(fields=["account", "status"], name="order_account_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(condition=Q(filled_amount__gte=0), name="order_filled_not_negative"),
            models.CheckConstraint(condition=Q(filled_amount__lte=F("amount")), name="order_filled_within_amount"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="order_fee_not_negative"),
        ]

    def __str__(self):
        return f"{self.side} {self.amount} {self.symbol} [{self.status}]"

    def check_transition(self, new_status: str) -> None:
        if new_status not in ORDER_TRANSITIONS[self.status]:
            raise IllegalTransition(f"order {self.pk}: {self.status} -> {new_status} is not allowed")


class Fill(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="fills")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    amount = models.DecimalField(**MONEY)
    price = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY, default=ZERO)
    fee_currency = models.CharField(max_length=10)
    fee_quote = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        help_text="The fee in the quote currency when it was charged in a third currency (e.g. BNB): the fee x "
        "that currency's price against the quote at the fill, rounded up to 1e-8. What positions, P&L, tax "
        "lots and statements count (trading.positions.fee_terms). Empty for quote and base-asset fees.",
    )
    fee_unpriced = models.BooleanField(
        default=False,
        help_text="Fee in a third currency with no price at the fill: booked without it, its P&L incomplete.",
    )
    liquidity = models.CharField(max_length=5, choices=[("maker", "maker"), ("taker", "taker")], default="taker")
    exchange_trade_id = models.CharField(max_length=64)
    traded_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the exchange executed the trade, as it reports it; empty for paper fills and trades "
        "without a time, whose created_at is that moment. A fill found late by reconciliation is booked "
        "(created_at) well after it traded: its third-currency fee is priced at this time (Fill.time).",
    )
    correlation_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["account", "-created_at"], name="fill_account_recent")]
        constraints = [
            models.UniqueConstraint(fields=["order", "exchange_trade_id"], name="fill_unique_trade_per_order"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="fill_amount_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_price_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="fill_fee_not_negative"),
            models.CheckConstraint(
                condition=Q(fee_quote__isnull=True) | Q(fee_quote__gte=0), name="fill_fee_quote_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.side} {self.amount} {self.symbol} @ {self.price}"

    @property
    def notional(self) -> Decimal:
        return self.amount * self.price

    @property
    def time(self) -> datetime:
        """When the fill happened: the exchange's trade time, else its booking time."""
        return self.traded_at or self.created_at


class Position(models.Model):
    """Spot position per account and symbol, kept after it closes for its realized P&L."""

    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="positions")
    symbol = models.CharField(max_length=32)
    quantity = models.DecimalField(**MONEY, default=ZERO)
    average_cost = models.DecimalField(**MONEY, default=ZERO, help_text="Per unit, fees included.")
    realized_pnl = models.DecimalField(**MONEY, default=ZERO)
    mark_price = models.DecimalField(**MONEY, null=True, blank=True)
    high_water_mark = models.DecimalField(**MONEY, null=True, blank=True, help_text="Highest mark since entry.")
    dust = models.BooleanField(
        default=False,
        help_text="The quantity held cannot be sold: below the market's lot step, minimum amount or minimum "
        "notional (fee dust). The position then counts as closed for exposure, risk and flatten; the "
        "quantity stays on it. Decided by trading.positions.is_dust when a fill is booked or a flatten runs.",
    )
    opened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="position_unique_symbol_per_account"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="position_spot_not_short"),
        ]

    def __str__(self):
        return f"{self.quantity} {self.symbol}"

    @property
    def is_open(self) -> bool:
        """Holds a quantity that can be sold: dust left by fees is closed for trading purposes."""
        return self.quantity > 0 and not self.dust

    @property
    def market_value(self) -> Decimal:
        return self.quantity * (self.mark_price or self.average_cost)

    @property
    def unrealized_pnl(self) -> Decimal:
        # Dust included: its coins are held and count in equity at their mark.
        if self.quantity <= 0 or self.mark_price is None:
            return ZERO
        return (self.mark_price - self.average_cost) * self.quantity


class EquitySnapshot(models.Model):
    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="equity_snapshots")
    ts = models.DateTimeField(default=timezone.now)
    equity = models.DecimalField(**MONEY)
    cash = models.DecimalField(**MONEY)
    positions_value = models.DecimalField(**MONEY)
    realized_pnl = models.DecimalField(**MONEY)
    unrealized_pnl = models.DecimalField(**MONEY)

    class Meta:
        indexes = [models.Index(fields=["account", "ts"], name="equity_account_ts")]

    def __str__(self):
        return f"{self.account_id} {self.ts:%Y-%m-%d %H:%M:%S} {self.equity}"


class Candle(models.Model):
    """OHLCV per venue. `source` is the venue or scenario: two feeds' candles for the same
    symbol and time are different facts, so it is part of the unique key."""

    source = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    ts = models.DateTimeField()
    open = models.DecimalField(**MONEY)
    high = models.DecimalField(**MONEY)
    low = models.DecimalField(**MONEY)
    close = models.DecimalField(**MONEY)
    volume = models.DecimalField(**MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "symbol", "timeframe", "ts"], name="candle_unique_bar"),
        ]

    def __str__(self):
        return f"{self.source} {self.symbol} {self.timeframe} {self.ts:%Y-%m-%d %H:%M}"


class ExchangeCredential(models.Model):
    """An account's exchange API key and secret, Fernet-encrypted at rest (SPEC S2). Read
    through trading.services.credentials, which audits every access; never logged, never
    returned by the API."""

    account = models.OneToOneField(TradingAccount, on_delete=models.CASCADE, related_name="exchange_credential")
    exchange_id = models.CharField(max_length=32, default="binance")
    api_key_encrypted = models.TextField()
    secret_encrypted = models.TextField()
    fingerprint = models.CharField(max_length=16, help_text="SHA-256 prefix of the API key: names its rate budget.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.exchange_id} key {self.fingerprint} for account {self.account_id}"

    def __repr__(self):
        return f"<ExchangeCredential {self.pk} {self.exchange_id} {self.fingerprint}>"


class Ticker(models.Model):
    """Best bid/ask and last price per venue at one moment (SPEC T1). Tickers have no
    timeframe: the unique key is (source, symbol, ts)."""

    source = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    ts = models.DateTimeField()
    bid = models.DecimalField(**MONEY, null=True, blank=True)
    ask = models.DecimalField(**MONEY, null=True, blank=True)
    last = models.DecimalField(**MONEY)
    base_volume = models.DecimalField(**MONEY, default=ZERO)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "symbol", "ts"], name="ticker_unique_moment"),
            models.CheckConstraint(condition=Q(last__gt=0), name="ticker_last_positive"),
        ]

    def __str__(self):
        return f"{self.source} {self.symbol} {self.ts:%Y-%m-%d %H:%M:%S} {self.last}"


class Universe(models.Model):
    """The account's tradable symbols with their tier (SPEC T2), and the liquidity rules each
    tick's ticker must pass: a strategy enters only symbols of its own tier that pass."""

    account = models.OneToOneField(TradingAccount, on_delete=models.CASCADE, related_name="universe")
    members = models.JSONField(default=dict, help_text='Symbol to tier, e.g. {"BTC/USDT": "hunter"}.')
    min_quote_volume = models.DecimalField(**MONEY, default=ZERO, help_text="Per candle, quote currency.")
    max_spread_bps = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("50"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(min_quote_volume__gte=0), name="universe_volume_not_negative"),
            models.CheckConstraint(condition=Q(max_spread_bps__gt=0), name="universe_spread_positive"),
        ]

    def __str__(self):
        return f"universe of {self.account_id}: {', '.join(self.members)}"


class CapitalLadder(models.Model):
    """The LIVE account's deployed-capital cap (SPEC T8): a step of $100 -> $1k -> $10k ->
    $100k -> $1M, and when and at what equity the current step began (its promotion
    criteria are measured from there). The audit trail holds the history of steps."""

    account = models.OneToOneField(TradingAccount, on_delete=models.CASCADE, related_name="capital_ladder")
    step = models.DecimalField(**MONEY, default=Decimal("100"))
    step_started_at = models.DateTimeField(default=timezone.now)
    step_start_equity = models.DecimalField(**MONEY)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(step__gt=0), name="capital_step_positive")]

    def __str__(self):
        return f"{self.account_id}: cap {self.step}"
