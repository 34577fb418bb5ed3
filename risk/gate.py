"""The pre-trade gate (SPEC R3): pure checks of one order intent against the policy.

Each rule either passes or raises RiskRefused naming the rule and the numbers. The rules are
checked in the order of SPEC R3; the first refusal wins.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from risk.exceptions import RiskRefused
from risk.policy import RiskPolicy

HUNDRED = Decimal("100")


@dataclass(frozen=True)
class OrderIntent:
    symbol: str
    side: str
    amount: Decimal
    price: Decimal  # expected fill price, slippage included
    fee_rate: Decimal = Decimal("0")
    min_notional: Decimal = Decimal("0")

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def notional(self) -> Decimal:
        return self.amount * self.price


@dataclass(frozen=True)
class Pacing:
    """Recent trading activity of the account, for the pacing rules."""

    trades_today: int = 0
    trades_last_hour: int = 0
    new_positions_last_hour: int = 0
    seconds_since_last_trade: float | None = None
    seconds_since_symbol_trade: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GateContext:
    policy: RiskPolicy
    stop_level: str
    equity: Decimal
    mode: str = "PAPER"
    data_age_seconds: float = 0.0
    position_values: dict[str, Decimal] = field(default_factory=dict)  # open positions only
    open_breakers: tuple[str, ...] = ()
    locked_symbols: frozenset[str] = frozenset()
    pnl_today_pct: Decimal = Decimal("0")
    pnl_week_pct: Decimal = Decimal("0")
    drawdown_pct: Decimal = Decimal("0")  # from peak equity
    pacing: Pacing = field(default_factory=Pacing)


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return part / whole * HUNDRED if whole > 0 else Decimal("Infinity")


def _check_stop_level(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    if ctx.stop_level in ("halt", "flatten"):
        raise RiskRefused("kill_switch", f"trading is stopped ({ctx.stop_level}); no orders")
    if ctx.stop_level == "pause_entries" and is_entry:
        raise RiskRefused("pause_entries", "entries are paused; only exits are allowed")


def _check_mode(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    if ctx.mode == "DRY_RUN":
        raise RiskRefused("mode", "the account is in DRY_RUN: decisions are logged, no orders are placed")


def _check_data_freshness(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    limit = ctx.policy.stale_data_seconds
    if limit and ctx.data_age_seconds > limit:
        raise RiskRefused(
            "data_freshness", f"price of {intent.symbol} is {ctx.data_age_seconds:.0f} s old, limit {limit} s"
        )


def _check_breakers(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    # Entries wait for the breaker; exits still go out, and their failures feed the breaker.
    if is_entry and ctx.open_breakers:
        raise RiskRefused("circuit_breaker", f"circuit breaker open: {', '.join(ctx.open_breakers)}")


def _check_symbol_lock(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    if is_entry and intent.symbol in ctx.locked_symbols:
        raise RiskRefused("symbol_lock", f"entries in {intent.symbol} are paused by a symbol lock")


def _check_symbol_lists(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    allow, deny = ctx.policy.symbols_allow, ctx.policy.symbols_deny
    if is_entry and intent.symbol in deny:
        raise RiskRefused("symbol_denied", f"{intent.symbol} is on the deny list")
    if is_entry and allow and intent.symbol not in allow:
        raise RiskRefused("symbol_not_allowed", f"{intent.symbol} is not on the allow list ({', '.join(allow)})")


def _check_pnl_stops(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    """Daily and weekly stops and the drawdown limit halt new entries for their period."""
    if not is_entry:
        return
    p = ctx.policy
    if p.daily_stop_pct and ctx.pnl_today_pct <= -p.daily_stop_pct:
        raise RiskRefused(
            "daily_stop", f"P&L today {ctx.pnl_today_pct:.2f} % breaches the daily stop -{p.daily_stop_pct} %"
        )
    if p.weekly_stop_pct and ctx.pnl_week_pct <= -p.weekly_stop_pct:
        raise RiskRefused(
            "weekly_stop", f"P&L this week {ctx.pnl_week_pct:.2f} % breaches the weekly stop -{p.weekly_stop_pct} %"
        )
    if p.max_drawdown_pct and ctx.drawdown_pct >= p.max_drawdown_pct:
        raise RiskRefused(
            "max_drawdown", f"drawdown {ctx.drawdown_pct:.2f} % from peak reaches the max {p.max_drawdown_pct} %"
        )


def _check_exposure(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    if not is_entry:
        return
    total = sum(ctx.position_values.values(), Decimal("0")) + intent.notional
    pct, limit = _pct(total, ctx.equity), ctx.policy.max_total_exposure_pct
    if pct > limit:
        raise RiskRefused("max_total_exposure", f"exposure {pct:.1f} % would exceed max {limit} %")


def _check_asset_cap(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    if not is_entry:
        return
    held = sum((v for s, v in ctx.position_values.items() if s.split("/")[0] == intent.base), Decimal("0"))
    pct, limit = _pct(held + intent.notional, ctx.equity), ctx.policy.max_asset_pct
    if pct > limit:
        raise RiskRefused("max_asset_pct", f"{intent.base} exposure {pct:.2f} % would exceed max {limit} %")


def _check_pacing(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    """Trade pacing applies to entries: an exit is never delayed by it."""
    if not is_entry:
        return
    p, pace = ctx.policy, ctx.pacing
    counts = (
        ("max_trades_per_day", pace.trades_today, p.max_trades_per_day, "trades today"),
        ("max_trades_per_hour", pace.trades_last_hour, p.max_trades_per_hour, "trades in the last hour"),
        (
            "max_new_positions_per_hour",
            pace.new_positions_last_hour,
            p.max_new_positions_per_hour,
            "new positions in the last hour",
        ),
    )
    for rule, count, limit, what in counts:
        if count + 1 > limit:
            raise RiskRefused(rule, f"{count + 1} {what} would exceed max {limit}")
    gaps = (
        ("min_seconds_between_trades", pace.seconds_since_last_trade, p.min_seconds_between_trades, "last trade"),
        (
            "min_seconds_per_symbol",
            pace.seconds_since_symbol_trade.get(intent.symbol),
            p.min_seconds_per_symbol,
            f"last {intent.symbol} trade",
        ),
    )
    for rule, since, limit, what in gaps:
        if since is not None and since < limit:
            raise RiskRefused(rule, f"{since:.0f} s since the {what}, min {limit} s")


def _check_min_notional(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    net = intent.notional * (1 - intent.fee_rate)
    if net < intent.min_notional:
        raise RiskRefused("min_notional", f"notional {net:.4f} after fees is below the minimum {intent.min_notional}")


def _check_position_count(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    opens_new = is_entry and intent.symbol not in ctx.position_values
    limit = ctx.policy.max_open_positions
    if opens_new and len(ctx.position_values) + 1 > limit:
        raise RiskRefused(
            "max_open_positions", f"open positions {len(ctx.position_values) + 1} would exceed max {limit}"
        )


def _check_position_size(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    if not is_entry:
        return
    after = ctx.position_values.get(intent.symbol, Decimal("0")) + intent.notional
    pct, limit = _pct(after, ctx.equity), ctx.policy.max_position_pct
    if pct > limit:
        raise RiskRefused("max_position_pct", f"position {pct:.2f} % of equity would exceed max {limit} %")


# In the order of SPEC R3: kill switch, mode, breakers, data freshness, exposure caps, position
# count, per-asset cap, pacing, P&L stops and drawdown, fee-adjusted minimum notional.
RULES = (
    _check_stop_level,
    _check_mode,
    _check_breakers,
    _check_data_freshness,
    _check_symbol_lock,
    _check_symbol_lists,
    _check_exposure,
    _check_position_count,
    _check_position_size,
    _check_asset_cap,
    _check_pacing,
    _check_pnl_stops,
    _check_min_notional,
)


def gate_check(intent: OrderIntent, ctx: GateContext) -> None:
    """Raise RiskRefused if any rule refuses `intent`. Exits (sells) only face the kill switch."""
    is_entry = intent.side == "buy"
    for rule in RULES:
        rule(intent, ctx, is_entry)
