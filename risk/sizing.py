"""Position sizing (SPEC R3): how much quote currency an entry may commit.

- fixed: the strategy's risk budget (a share of equity);
- volatility: that budget scaled by target / realized volatility when the symbol is more
  volatile than the target (never scaled up);
- kelly: a fraction of the Kelly share W - (1 - W) / R from the strategy's closed trades
  (W win rate, R average win / average loss), with too few trades falling back to the minimum.

Whatever the method, the result is clamped to the policy's sizing limits, its position cap,
and its minimum and maximum order value; below the minimum it is zero (no order)."""

from decimal import Decimal

from risk.policy import RiskPolicy

HUNDRED = Decimal("100")
ZERO = Decimal("0")


def kelly_share(wins: list[Decimal], losses: list[Decimal]) -> Decimal:
    """W - (1 - W) / R; zero without both wins and losses or when the edge is negative."""
    if not wins or not losses:
        return ZERO
    w = Decimal(len(wins)) / Decimal(len(wins) + len(losses))
    r = (sum(wins) / len(wins)) / (sum(abs(x) for x in losses) / len(losses))
    return max(ZERO, w - (1 - w) / r)


def position_value(
    *,
    policy: RiskPolicy,
    equity: Decimal,
    risk_budget: Decimal,
    volatility_pct: Decimal | None = None,
    trade_pnls: list[Decimal] | None = None,
) -> Decimal:
    """Quote value to commit to a new entry (0 means no order)."""
    s = policy.sizing
    share = risk_budget
    if s.method == "volatility" and volatility_pct and volatility_pct > s.target_volatility_pct:
        share = share * s.target_volatility_pct / volatility_pct
    elif s.method == "kelly":
        pnls = trade_pnls or []
        if len(pnls) < s.kelly_min_trades:
            share = s.min_size_pct / HUNDRED
        else:
            share = s.kelly_fraction * kelly_share([p for p in pnls if p > 0], [p for p in pnls if p < 0])
    share = min(share, s.max_size_pct / HUNDRED, policy.max_position_pct / HUNDRED)
    if share < s.min_size_pct / HUNDRED:
        return ZERO
    value = min(equity * share, s.max_order_usd)
    return value if value >= s.min_order_usd else ZERO
