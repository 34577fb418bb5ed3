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

    @property
    def notional(self) -> Decimal:
        return self.amount * self.price


@dataclass(frozen=True)
class GateContext:
    policy: RiskPolicy
    stop_level: str
    equity: Decimal
    position_values: dict[str, Decimal] = field(default_factory=dict)  # open positions only
    open_breakers: tuple[str, ...] = ()
    locked_symbols: frozenset[str] = frozenset()
    pnl_today_pct: Decimal = Decimal("0")
    pnl_week_pct: Decimal = Decimal("0")
    drawdown_pct: Decimal = Decimal("0")  # from peak equity


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return part / whole * HUNDRED if whole > 0 else Decimal("Infinity")


def _check_stop_level(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    if ctx.stop_level in ("halt", "flatten"):
        raise RiskRefused("kill_switch", f"trading is stopped ({ctx.stop_level}); no orders")
    if ctx.stop_level == "pause_entries" and is_entry:
        raise RiskRefused("pause_entries", "entries are paused; only exits are allowed")


def _check_breakers(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    # Entries wait for the breaker; exits still go out, and their failures feed the breaker.
    if is_entry and ctx.open_breakers:
        raise RiskRefused("circuit_breaker", f"circuit breaker open: {', '.join(ctx.open_breakers)}")


def _check_symbol_lock(intent: OrderIntent, ctx: GateContext, is_entry: bool) -> None:
    if is_entry and intent.symbol in ctx.locked_symbols:
        raise RiskRefused("symbol_lock", f"entries in {intent.symbol} are paused by a symbol lock")


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


RULES = (
    _check_stop_level,
    _check_breakers,
    _check_symbol_lock,
    _check_pnl_stops,
    _check_position_count,
    _check_position_size,
)


def gate_check(intent: OrderIntent, ctx: GateContext) -> None:
    """Raise RiskRefused if any rule refuses `intent`. Exits (sells) only face the kill switch."""
    is_entry = intent.side == "buy"
    for rule in RULES:
        rule(intent, ctx, is_entry)
