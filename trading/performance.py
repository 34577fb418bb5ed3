"""Performance reads for the API (SPEC O2): per symbol and strategy, profit per period, trade
statistics. Money is Decimal, summed by the database or in Decimal, never float."""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from trading.models import EquitySnapshot, Fill, Order, TradingAccount
from trading.positions import fee_in_quote

ZERO = Decimal("0")
HUNDRED = Decimal("100")
PCT = Decimal("0.01")
PERIODS = {"daily": TruncDay, "weekly": TruncWeek, "monthly": TruncMonth}


def _filled(account_id: int) -> QuerySet[Order]:
    return Order.objects.filter(account_id=account_id, status__in=("filled", "partially_filled"))


def fees_in_quote(*, account_id: int, key: str | None = None) -> dict:
    """Fees paid, in the quote currency, per value of `key` (a Fill lookup; None: one total
    under None). From the fills, not the orders: a fee charged in the base asset (Binance's
    buy fee) is valued at its fill's price, one in a third currency (BNB) at its price at the
    fill (Fill.fee_quote), and a cancelled order's partial fills paid fees too. A third-currency
    fee with no price is left out: `unpriced_fees` counts those fills."""
    fills = Fill.objects.filter(account_id=account_id, fee__gt=0)
    totals: dict = defaultdict(lambda: ZERO)
    for name, symbol, fee, currency, price, fee_quote in fills.values_list(
        key or "account_id", "symbol", "fee", "fee_currency", "price", "fee_quote"
    ).iterator():
        value = fee_in_quote(symbol=symbol, fee=fee, fee_currency=currency, price=price, fee_quote=fee_quote)
        totals[name if key else None] += value or ZERO
    return totals


def unpriced_fees(*, account_id: int) -> int:
    """Fills whose fee, in a third currency, had no price at the fill: the fee and P&L figures
    leave those fees out and are incomplete while this is above 0."""
    return Fill.objects.filter(account_id=account_id, fee_unpriced=True).count()


def _performance(account_id: int, key: str) -> list[dict]:
    fees = fees_in_quote(account_id=account_id, key={"symbol": "symbol"}.get(key, "order__" + key))
    rows = (
        _filled(account_id)
        .values(key)
        .annotate(
            orders=Count("pk"),
            exits=Count("pk", filter=Q(side="sell")),
            wins=Count("pk", filter=Q(side="sell", realized_pnl__gt=0)),
            realized_pnl=Sum("realized_pnl"),
        )
        .order_by(key)
    )
    return [
        {
            "name": row[key] or "manual and risk exits",
            "orders": row["orders"],
            "exits": row["exits"],
            "wins": row["wins"],
            "realized_pnl": row["realized_pnl"] or ZERO,
            "fees": fees.get(row[key], ZERO),
        }
        for row in rows
    ]


def performance_by_symbol(*, account_id: int) -> list[dict]:
    """Filled orders, exits, winning exits, realized P&L and fees per symbol."""
    return _performance(account_id, "symbol")


def performance_by_strategy(*, account_id: int) -> list[dict]:
    """The same per strategy; orders without a strategy (manual, risk exits) are one row."""
    return _performance(account_id, "strategy__name")


def profit_by_period(*, account: TradingAccount, period: str, periods: int) -> list[dict]:
    """Profit of the last `periods` UTC days, weeks (from Monday) or months: each period's
    closing equity minus the previous period's (the starting balance before the first)."""
    trunc = PERIODS[period]
    closes = list(
        EquitySnapshot.objects.filter(account=account)
        .annotate(period=trunc("ts"))
        .values("period")
        .annotate(last_ts=Max("ts"))
        .order_by("-period")[: periods + 1]
    )
    closes.reverse()
    equity_at = dict(
        EquitySnapshot.objects.filter(account=account, ts__in=[c["last_ts"] for c in closes]).values_list(
            "ts", "equity"
        )
    )
    out, previous = [], None
    first_is_base = len(closes) > periods
    for i, close in enumerate(closes):
        equity = equity_at[close["last_ts"]]
        if i == 0 and first_is_base:
            previous = equity
            continue
        base = previous if previous is not None else account.starting_balance
        profit = equity - base
        out.append(
            {
                "period_start": close["period"],
                "closing_equity": equity,
                "profit": profit,
                "profit_pct": (profit / base * HUNDRED).quantize(PCT) if base else ZERO,
            }
        )
        previous = equity
    return out


def trade_statistics(*, account_id: int, since: datetime | None = None) -> dict:
    """Closed trades (filled exits): count, wins, losses, win rate, gross profit and loss,
    profit factor (None without losses), average win and loss, best and worst, fees."""
    exits = _filled(account_id).filter(side="sell")
    if since is not None:
        exits = exits.filter(created_at__gte=since)
    pnls = list(exits.values_list("realized_pnl", flat=True))
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_profit, gross_loss = sum(wins, ZERO), -sum(losses, ZERO)
    fees = fees_in_quote(account_id=account_id).get(None, ZERO)
    return {
        "trades": len(pnls),
        "wins": len(wins),
        "losses": len(losses),
        "win_rate_pct": (Decimal(len(wins)) / len(pnls) * HUNDRED).quantize(PCT) if pnls else ZERO,
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "net_pnl": gross_profit - gross_loss,
        "profit_factor": (gross_profit / gross_loss).quantize(PCT) if gross_loss else None,
        "average_win": gross_profit / len(wins) if wins else ZERO,
        "average_loss": gross_loss / len(losses) if losses else ZERO,
        "best": max(pnls, default=ZERO),
        "worst": min(pnls, default=ZERO),
        "fees": fees,
        "unpriced_fees": unpriced_fees(account_id=account_id),
    }
