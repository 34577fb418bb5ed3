"""Market data guards (SPEC R7): a tick that fails is counted, never traded on, and does not
move the marks. Pure functions; the engine applies them to every candle it reads."""

from datetime import datetime
from decimal import Decimal
from statistics import median

HUNDRED = Decimal("100")


def tick_rejection(
    *,
    close: Decimal,
    ts: datetime,
    expected_ts: datetime,
    previous_ts: datetime,
    recent_closes: list[Decimal],
    max_deviation_pct: Decimal,
    stale_seconds: int,
) -> str | None:
    """Why this tick must not be used, or None. `expected_ts` is when the tick should be from,
    `previous_ts` the last accepted tick's time, `recent_closes` the last accepted closes."""
    if not close.is_finite():
        return f"nan: close is {close}"
    if close <= 0:
        return f"non_positive: close is {close}"
    age = (expected_ts - ts).total_seconds()
    if stale_seconds and age > stale_seconds:
        return f"stale: tick is {age:.0f} s old, limit {stale_seconds} s"
    if ts <= previous_ts:
        return f"out_of_order: tick at {ts:%H:%M:%S} is not after the previous one at {previous_ts:%H:%M:%S}"
    if recent_closes and max_deviation_pct:
        reference = median(recent_closes)
        deviation = abs(close - reference) / reference * HUNDRED
        if deviation > max_deviation_pct:
            return (
                f"outlier: close {close} is {deviation:.1f} % from the rolling median {reference}, "
                f"max {max_deviation_pct} %"
            )
    return None
