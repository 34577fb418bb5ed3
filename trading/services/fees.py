"""Fees charged in a third currency (SPEC T3, T6; BNB on BTC/USDT): their price at the fill,
and the late pricing of fills booked without one.

A fill's third-currency fee is worth its currency's price against the quote *at the fill*
(`fee_rate_at`): a stored ticker or candle at or before the fill's time (at most
FEE_PRICE_MAX_AGE older), else the exchange's: its ticker only for a fill that traded within
FEE_TICKER_MAX_LAG of now, otherwise the open of its 1-minute kline of the fill's minute (the
price at the start of that minute, never after the fill). A fill found late by reconciliation is
therefore never priced at today's ticker; without any of these it is booked unpriced
(Fill.fee_unpriced) and `fees_price_unpriced` prices it when a price turns up, correcting
everything booking would have done with it.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from compliance.services import Actor, audit_append, audit_batch
from trading.exchanges.live import LiveExchange
from trading.models import Fill, Order, Position, TradingAccount
from trading.positions import PositionState, cash_delta, fee_quote_value, position_apply_fill, q
from trading.selectors import price_at
from trading.services.positions import FILL_FIELDS, fill_trade

logger = logging.getLogger(__name__)
FEES = Actor.system("fees")
# The exchange's ticker is the price now: close enough to a fill this recent, not to an older one.
FEE_TICKER_MAX_LAG = timedelta(seconds=60)
MINUTE_MS = 60_000


@dataclass(frozen=True)
class FeeRate:
    rate: Decimal  # quote per unit of the fee currency
    source: str  # stored, exchange_ticker or exchange_kline


def fee_rate_at(
    *, currency: str, quote: str, at: datetime, exchange: LiveExchange | None = None, now: datetime | None = None
) -> FeeRate | None:
    """The price of `currency` in `quote` at the moment `at` (see the module docstring), or None
    when neither the stored market data nor the exchange has one. Never raises for the
    exchange: no price is a flagged fill, never a lost one."""
    pair = f"{currency}/{quote}"
    rate = price_at(symbol=pair, at=at)
    if rate is not None and rate > 0:
        return FeeRate(rate, "stored")
    if exchange is None:
        return None
    try:
        return _exchange_rate_at(exchange, pair, at=at, now=now or timezone.now())
    except Exception:
        logger.warning("no price for a fee currency", extra={"pair": pair, "at": at.isoformat()})
        return None


def _exchange_rate_at(exchange: LiveExchange, pair: str, *, at: datetime, now: datetime) -> FeeRate | None:
    if abs(now - at) <= FEE_TICKER_MAX_LAG:
        last = exchange.ticker(pair)["last"]
        return FeeRate(last, "exchange_ticker") if last and last > 0 else None
    minute = int(at.timestamp()) // 60 * MINUTE_MS
    rows = exchange.ohlcv(pair, "1m", since=minute, limit=1)
    if rows and rows[0][0] == minute and rows[0][1] and rows[0][1] > 0:
        return FeeRate(rows[0][1], "exchange_kline")
    return None


@dataclass
class FeePricing:
    priced: list[int] = field(default_factory=list)  # fills priced by this pass
    unpriced: int = 0  # fills of the account still without a price
    alerts_resolved: list[int] = field(default_factory=list)


def fees_price_unpriced(
    *, account_id: int, exchange: LiveExchange | None = None, actor: Actor = FEES, now: datetime | None = None
) -> FeePricing:
    """Price the account's fills booked without a price for their third-currency fee
    (Fill.fee_unpriced) at the fee currency's price at each fill's time (`fee_rate_at`), and
    correct what their booking would have done with it: the fill's fee_quote, its position's
    average cost and realized P&L, the realized P&L of each order whose fills the fee changes,
    and the cash, exactly as a rebuild from the fills gives them. One audited transaction per
    symbol. A fill with no price yet stays flagged for the next pass. When none is left, the
    account's fee_unpriced alerts are resolved. Idempotent: a second pass changes nothing."""
    now = now or timezone.now()
    rows = Fill.objects.filter(account_id=account_id, fee_unpriced=True).order_by("pk")
    found: dict[str, dict[int, tuple[FeeRate, Decimal, dict]]] = defaultdict(dict)
    for f in rows.values("pk", "symbol", "fee", "fee_currency", "traded_at", "created_at"):
        at, quote = f["traded_at"] or f["created_at"], f["symbol"].split("/")[1]
        rate = fee_rate_at(currency=f["fee_currency"], quote=quote, at=at, exchange=exchange, now=now)
        if rate is not None:
            found[f["symbol"]][f["pk"]] = (rate, fee_quote_value(fee=f["fee"], rate=rate.rate), f | {"at": at})
    result = FeePricing()
    for symbol, prices in found.items():
        result.priced += _symbol_fees_price(account_id=account_id, symbol=symbol, prices=prices, actor=actor)
    result.alerts_resolved = _alerts_resolve_if_priced(account_id=account_id, actor=actor)
    result.unpriced = Fill.objects.filter(account_id=account_id, fee_unpriced=True).count()
    return result


def _replay(history: list[dict], fee_quotes: dict[int, Decimal]) -> tuple[PositionState, dict[int, Decimal]]:
    """The symbol's position after its fills in booking order, with `fee_quotes` for some of
    them, and the P&L each order's fills realized (what booking adds to Order.realized_pnl)."""
    state, realized = PositionState(), defaultdict(Decimal)
    for f in history:
        before = state.realized_pnl
        priced = f | {"fee_quote": fee_quotes[f["pk"]]} if f["pk"] in fee_quotes else f
        state = position_apply_fill(state, **fill_trade(priced))
        realized[f["order_id"]] += state.realized_pnl - before
    return state, realized


def _symbol_fees_price(*, account_id: int, symbol: str, prices: dict, actor: Actor) -> list[int]:
    with transaction.atomic(), audit_batch():
        fills = Fill.objects.filter(account_id=account_id, symbol=symbol)
        first = min(prices)
        # Locks in booking's order (order_apply_remote: order, position, account), so a fill
        # being booked meanwhile waits for this instead of deadlocking with it: the orders whose
        # realized P&L can change (those with fills from the first priced one on), the position.
        orders = set(fills.filter(pk__gte=first).values_list("order_id", flat=True))
        list(Order.objects.select_for_update().filter(pk__in=orders).order_by("pk").values_list("pk", flat=True))
        position = Position.objects.select_for_update().get(account_id=account_id, symbol=symbol)
        history = list(fills.order_by("pk").values("pk", "order_id", *FILL_FIELDS))
        if {f["order_id"] for f in history if f["pk"] >= first} - orders:
            return []  # a new order's fill committed before the position lock: the next pass
        # Conditional on the flag: a concurrent pass (the task and the command) prices a fill once.
        values = {
            pk: value
            for pk, (_, value, _) in prices.items()
            if Fill.objects.filter(pk=pk, fee_unpriced=True).update(fee_quote=value, fee_unpriced=False)
        }
        if not values:
            return []
        _corrections_apply(position, history, values, prices=prices, actor=actor)
    return sorted(values)


def _corrections_apply(position: Position, history: list[dict], values: dict, *, prices: dict, actor: Actor) -> None:
    """Move the position, the orders and the cash by the difference between the replays without
    and with the new fee values: the stored rows end where booking with the prices known would
    have left them (and a difference they already had from the fills stays, for a rebuild)."""
    before, realized_before = _replay(history, {})
    after, realized_after = _replay(history, values)
    old = {"average_cost": position.average_cost, "realized_pnl": position.realized_pnl}
    position.average_cost += after.average_cost - before.average_cost
    position.realized_pnl += after.realized_pnl - before.realized_pnl
    position.save(update_fields=["average_cost", "realized_pnl"])
    orders = {pk: realized_after[pk] - realized_before[pk] for pk in realized_after}
    for pk, change in orders.items():
        if change:
            Order.objects.filter(pk=pk).update(realized_pnl=F("realized_pnl") + change)
    priced = [f for f in history if f["pk"] in values]
    # Exactly minus the new fee values (a quote fee leaves the cash on either side), to 1e-8.
    after = {f["pk"]: fill_trade(f | {"fee_quote": values[f["pk"]]}) for f in priced}
    changes = (cash_delta(**after[f["pk"]]) - cash_delta(**fill_trade(f)) for f in priced)
    cash = q(sum(changes, Decimal("0")))
    # An increment, as booking's: a tick holding the account row keeps its own copy of the cash.
    TradingAccount.objects.filter(pk=position.account_id).update(cash_balance=F("cash_balance") + cash)
    audit_append(
        actor=actor,
        action="fees.priced",
        obj=position,
        payload={
            "account": position.account_id,
            "symbol": position.symbol,
            "fills": [_priced_entry(prices[f["pk"]]) for f in priced],
            "average_cost": [old["average_cost"], position.average_cost],
            "realized_pnl": [old["realized_pnl"], position.realized_pnl],
            "cash": cash,
            "orders_realized_pnl": {str(pk): change for pk, change in orders.items() if change},
        },
    )


def _priced_entry(price: tuple[FeeRate, Decimal, dict]) -> dict:
    rate, value, f = price
    return {
        "fill": f["pk"],
        "fee": f["fee"],
        "currency": f["fee_currency"],
        "at": f["at"].isoformat(),
        "rate": rate.rate,
        "source": rate.source,
        "fee_quote": value,
    }


def _alerts_resolve_if_priced(*, account_id: int, actor: Actor) -> list[int]:
    from risk.alerts import alert_resolve  # risk imports trading
    from risk.models import Alert, AlertStatus

    with transaction.atomic():
        # The account row lock alert_raise takes too: a fill booked unpriced meanwhile is either
        # seen here (nothing resolved) or raises its own new alert after this commits.
        TradingAccount.objects.select_for_update().only("pk").get(pk=account_id)
        if Fill.objects.filter(account_id=account_id, fee_unpriced=True).exists():
            return []
        open_alerts = Alert.objects.filter(account_id=account_id, type="fee_unpriced").exclude(
            status=AlertStatus.RESOLVED
        )
        ids = list(open_alerts.order_by("pk").values_list("pk", flat=True))
        for pk in ids:
            alert_resolve(alert_id=pk, actor=actor, comment="every third-currency fee of the account is priced")
    return ids
