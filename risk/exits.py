"""Per-tick exits (SPEC R4): stop loss, take profit and trailing stop of one position."""

from decimal import Decimal

from risk.policy import RiskPolicy

HUNDRED = Decimal("100")


def exit_reason(*, average_cost: Decimal, mark: Decimal, high_water_mark: Decimal, policy: RiskPolicy) -> str | None:
    """Why the position must be closed at `mark` now, or None. Percentages are of the
    average cost (stop loss, take profit) or of the highest mark since entry (trailing)."""
    if policy.stop_loss_pct and mark <= average_cost * (1 - policy.stop_loss_pct / HUNDRED):
        return f"stop_loss: mark {mark} is {policy.stop_loss_pct} % or more below cost {average_cost:.2f}"
    if policy.take_profit_pct and mark >= average_cost * (1 + policy.take_profit_pct / HUNDRED):
        return f"take_profit: mark {mark} is {policy.take_profit_pct} % or more above cost {average_cost:.2f}"
    if policy.trailing_stop_pct and mark <= high_water_mark * (1 - policy.trailing_stop_pct / HUNDRED):
        return f"trailing_stop: mark {mark} is {policy.trailing_stop_pct} % or more below the high {high_water_mark}"
    return None
