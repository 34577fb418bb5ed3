"""The error budget of engine ticks (SPEC M7). Each tick's outcome raises a counter in its
account's row for the current UTC hour (TickOutcome); the budget is read from those rows.

With an SLO of 99.9 % over 30 days, 0.1 % of ticks may fail. `remaining` is the share of that
allowance not yet used (1 untouched, 0 used up, negative overspent). A burn rate is the
failure rate over a short window divided by the allowed rate: 1 spends the budget exactly
over the whole window, 14.4 spends 2 % of a 30-day budget in one hour (the fast-burn page).
Windows are counted in whole hour rows, the current (partial) hour included."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from genesis_site.models import TickOutcome

logger = logging.getLogger(__name__)
ONE = Decimal(1)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def tick_outcome_record(*, account_id: int, ok: bool, at: datetime | None = None) -> None:
    """Count one tick of `account_id` as ok or failed in its hour row: one UPDATE with an F()
    increment (atomic in the database, so concurrent ticks never lose a count), an INSERT for
    the hour's first tick. Count a failure outside the tick's transaction: a failed tick
    rolled its own work back, and its count must not go with it. A success may be counted
    inside it (the paper tick does: one commit fewer, and the count goes only if the tick's
    writes do)."""
    column = "ok" if ok else "failed"
    hour = _hour(at or timezone.now())
    if _count(account_id, hour, column):
        return
    try:
        with transaction.atomic():
            TickOutcome.objects.create(account_id=account_id, hour=hour, **{column: 1})
    except IntegrityError:  # another worker inserted the hour's row first
        _count(account_id, hour, column)


def _count(account_id: int, hour: datetime, column: str) -> bool:
    """Add one to `column` of the hour's row, if it exists. In SQL written once: the ORM's
    update with an F() increment costs more CPU than the statement, once per tick."""
    connection = transaction.get_connection()
    qn, meta = connection.ops.quote_name, TickOutcome._meta
    name = qn(meta.get_field(column).column)
    sql = (
        f"UPDATE {qn(meta.db_table)} SET {name} = {name} + 1 "  # noqa: S608 (identifiers from the model)
        f"WHERE {qn(meta.get_field('account').column)} = %s AND {qn(meta.get_field('hour').column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [account_id, connection.ops.adapt_datetimefield_value(hour)])
        return cursor.rowcount > 0


@dataclass(frozen=True)
class BurnRate:
    hours: int
    ticks: int
    failed: int
    rate: Decimal | None  # None without ticks in the window


@dataclass(frozen=True)
class ErrorBudget:
    slo: Decimal
    days: int
    ticks: int
    failed: int
    success_ratio: Decimal | None  # None without ticks in the window
    remaining: Decimal
    burn: tuple[BurnRate, ...]

    def as_dict(self) -> dict:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else format(value.normalize(), "f")

        return {
            "slo": text(self.slo),
            "window_days": self.days,
            "ticks": self.ticks,
            "failed": self.failed,
            "success_ratio": text(self.success_ratio),
            "budget_remaining": text(self.remaining),
            "burn_rates": [
                {"window_hours": b.hours, "ticks": b.ticks, "failed": b.failed, "burn_rate": text(b.rate)}
                for b in self.burn
            ],
        }


def _counts(since: datetime, account_id: int | None) -> tuple[int, int]:
    rows = TickOutcome.objects.filter(hour__gte=since)
    if account_id is not None:
        rows = rows.filter(account_id=account_id)
    sums = rows.aggregate(ok=Sum("ok"), failed=Sum("failed"))
    ok, failed = sums["ok"] or 0, sums["failed"] or 0
    return ok + failed, failed


def burn_rate(*, ticks: int, failed: int, slo: Decimal) -> Decimal | None:
    """Failure rate / allowed failure rate (1 - SLO); None without ticks."""
    return None if not ticks else (Decimal(failed) / ticks) / (ONE - slo)


def budget_remaining(*, ticks: int, failed: int, slo: Decimal) -> Decimal:
    """The share of the allowed failures not used yet: 1 - failed / (ticks * (1 - SLO))."""
    return ONE if not ticks else ONE - Decimal(failed) / (ticks * (ONE - slo))


def error_budget(*, account_id: int | None = None, now: datetime | None = None) -> ErrorBudget:
    """The tick error budget over GENESIS_ERROR_BUDGET_DAYS against GENESIS_TICK_SLO, for one
    account or (None) all of them, with the burn rate over each configured window."""
    slo, days = settings.GENESIS_TICK_SLO, settings.GENESIS_ERROR_BUDGET_DAYS
    current = _hour(now or timezone.now())
    ticks, failed = _counts(current - timedelta(hours=days * 24 - 1), account_id)
    burn = []
    for hours in settings.GENESIS_ERROR_BUDGET_BURN_WINDOWS_HOURS:
        window_ticks, window_failed = _counts(current - timedelta(hours=hours - 1), account_id)
        burn.append(
            BurnRate(hours, window_ticks, window_failed, burn_rate(ticks=window_ticks, failed=window_failed, slo=slo))
        )
    return ErrorBudget(
        slo=slo,
        days=days,
        ticks=ticks,
        failed=failed,
        success_ratio=Decimal(ticks - failed) / ticks if ticks else None,
        remaining=budget_remaining(ticks=ticks, failed=failed, slo=slo),
        burn=tuple(burn),
    )


def error_budget_export() -> ErrorBudget:
    """Set the error-budget gauges of /metrics from the database (the beat entry)."""
    from trading import metrics

    budget = error_budget()
    metrics.error_budget_remaining_ratio.set(float(budget.remaining))
    for b in budget.burn:
        metrics.error_budget_burn_rate.labels(window=f"{b.hours}h").set(float(b.rate or 0))
    return budget
