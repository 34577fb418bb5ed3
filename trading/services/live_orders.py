"""Orders on a live exchange (SPEC T3, T5): submitted exactly once by idempotency key, their
exchange state applied to the local row, fills booked once per exchange trade id."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from compliance.services import Actor, audit_append, audit_batch
from trading.exceptions import ExchangeError, OrderRejected
from trading.exchanges.live import ExchangeOrder, ExchangeTrade, LiveExchange
from trading.exchanges.paper import PaperFill
from trading.models import Fill, Order, OrderStatus, Position, StopLevel, TradingAccount
from trading.positions import cash_delta, fee_in_third, fee_quote_value, fee_terms
from trading.services.fees import fee_rate_at
from trading.services.orders import _order_event, _position_book, order_transition

FINAL = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
# The client order ids of a flatten's exit orders: the only orders a flattened account sends.
FLATTEN_KEY_PREFIX = "flat-"


def order_is_flatten_exit(order_or_key: Order | str) -> bool:
    key = order_or_key if isinstance(order_or_key, str) else order_or_key.idempotency_key
    return key.startswith(FLATTEN_KEY_PREFIX)


def send_refusal(*, stop_level: str, order: Order) -> str | None:
    """Why an order may not go to the exchange under the account's stop level (SPEC R6), or
    None: a halt stops everything, a flatten everything but its own exits, a pause of entries
    the buys (entries; sells are exits)."""
    if stop_level == StopLevel.HALT:
        return "halt: no orders reach the exchange"
    if stop_level == StopLevel.FLATTEN and not order_is_flatten_exit(order):
        return "flatten: only the flatten's own exit orders reach the exchange"
    if stop_level == StopLevel.PAUSE_ENTRIES and order.side == "buy":
        return "pause_entries: entries are paused; only exits reach the exchange"
    return None


def order_prepare_live(
    *,
    account: TradingAccount,
    symbol: str,
    side: str,
    amount: Decimal,
    idempotency_key: str,
    actor: Actor,
    correlation_id: str = "",
    config_hash: str = "",
    order_type: str = "market",
    price: Decimal | None = None,
    strategy=None,
    reason: str = "",
) -> tuple[Order, bool]:
    """Record an order as submitted, inside the caller's transaction, before the exchange is
    called (`order_send_live`, after that transaction commits). A crash between the two
    leaves a submitted row that reconciliation settles by client order id (= idempotency
    key). Returns (order, created); an existing key returns its order untouched."""
    order, created = Order.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "account": account,
            "strategy": strategy,
            "symbol": symbol,
            "side": side,
            "order_type": order_type,
            "amount": amount,
            "price": price,
            "correlation_id": correlation_id,
        },
    )
    if created:
        _order_event(order, actor=actor, config_hash=config_hash, extra={"reason": reason} if reason else None)
        order_transition(order=order, status=OrderStatus.SUBMITTED, actor=actor, config_hash=config_hash)
    return order, created


def order_send_live(*, order: Order, exchange: LiveExchange, actor: Actor, config_hash: str = "") -> Order:
    """Send a committed, submitted order to the exchange with its idempotency key as client
    order id, and apply the answer. Must run outside any transaction: the submitted row has
    to be durable before the exchange can act on it. A rejection is recorded; an unknown
    outcome (lost answer, timeout) leaves the order submitted for reconciliation.

    Right before the call the order and account rows are locked in a short transaction and
    checked: an order no longer submitted (a halt's cancel got to it) or one the account's stop
    level forbids (a halt committed after the tick that decided it) is not sent but cancelled,
    audited with the reason. A halt committing after this check is caught by the halt's own
    cancel or by reconciliation, which cancels what a halted account has open."""
    order, send = _send_check(order, actor=actor, config_hash=config_hash)
    if not send:
        return order
    try:
        remote = exchange.create_order(
            symbol=order.symbol,
            side=order.side,
            amount=order.amount,
            client_order_id=order.idempotency_key,
            order_type=order.order_type,
            price=order.price,
        )
    except OrderRejected as exc:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            if order.status not in FINAL:
                order.reject_reason = str(exc)
                order_transition(
                    order=order,
                    status=OrderStatus.REJECTED,
                    actor=actor,
                    config_hash=config_hash,
                    extra={"reason": str(exc)},
                )
        return order
    except ExchangeError:
        return order  # outcome unknown: submitted until reconciliation settles it
    return order_apply_remote(order_id=order.pk, remote=remote, trades=remote.trades, actor=actor, exchange=exchange)


def _send_check(order: Order, *, actor: Actor, config_hash: str) -> tuple[Order, bool]:
    with transaction.atomic():
        # The order first, then the account: the order the answer's booking locks them in.
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status != OrderStatus.SUBMITTED or order.exchange_order_id:
            return order, False  # settled, cancelled, or already answered by the exchange
        stop_level = (
            TradingAccount.objects.select_for_update().values_list("stop_level", flat=True).get(pk=order.account_id)
        )
        reason = send_refusal(stop_level=stop_level, order=order)
        if reason is not None:
            order.reject_reason = f"not sent: {reason}"
            order_transition(
                order=order,
                status=OrderStatus.CANCELLED,
                actor=actor,
                config_hash=config_hash,
                extra={"reason": order.reject_reason, "sent": False},
            )
            return order, False
    return order, True


def order_cancel_live(*, order_id: int, exchange: LiveExchange, actor: Actor, reason: str) -> Order:
    """Cancel an order on the exchange by its client order id (outside any transaction) and
    apply the exchange's answer: cancelled, or filled if it filled before the cancel landed
    (its fills booked). The local row changes only on that answer. OrderNotFound (the
    exchange never saw it) and ExchangeError (after the adapter's retries) propagate: the
    row stays open for the send check or reconciliation."""
    order = Order.objects.get(pk=order_id)
    if order.status in FINAL:
        return order
    remote = exchange.cancel_order(symbol=order.symbol, client_order_id=order.idempotency_key)
    trades = exchange.order_trades(symbol=order.symbol, order_id=remote.id) if remote.filled > 0 else []
    return order_apply_remote(
        order_id=order.pk, remote=remote, trades=trades, actor=actor, reason=reason, exchange=exchange
    )


def order_submit_live(
    *,
    account: TradingAccount,
    exchange: LiveExchange,
    symbol: str,
    side: str,
    amount: Decimal,
    idempotency_key: str,
    actor: Actor,
    correlation_id: str = "",
    config_hash: str = "",
    order_type: str = "market",
    price: Decimal | None = None,
    strategy=None,
) -> Order:
    """Place an order exactly once: `order_prepare_live` committed, then `order_send_live`.
    A retried submit with the same key is a no-op that returns the existing order."""
    with transaction.atomic(), audit_batch():
        order, created = order_prepare_live(
            account=account,
            symbol=symbol,
            side=side,
            amount=amount,
            idempotency_key=idempotency_key,
            actor=actor,
            correlation_id=correlation_id,
            config_hash=config_hash,
            order_type=order_type,
            price=price,
            strategy=strategy,
        )
    if not created:
        return order
    return order_send_live(order=order, exchange=exchange, actor=actor, config_hash=config_hash)


def _trade_time(trade: ExchangeTrade) -> datetime | None:
    return datetime.fromtimestamp(trade.timestamp / 1000, UTC) if trade.timestamp else None


def _fee_rates(
    trades, *, symbol: str, exchange: LiveExchange | None, now: datetime | None = None
) -> dict[str, Decimal | None]:
    """By trade id, the quote price of the third currency (BNB) each trade paid its fee in, at
    the trade's own time (trading.services.fees.fee_rate_at: stored prices, else the
    exchange's, never a price from after an old trade; the trades of one order can be hours
    apart), looked up before the booking's transaction (no exchange call runs inside one).
    None where no price was found: the fill is booked and flagged, and priced later by
    fees_price_unpriced."""
    now = now or timezone.now()
    quote, rates, asked = symbol.split("/")[1], {}, {}
    for trade in trades:
        currency = trade.fee_currency
        if not trade.fee or not fee_in_third(symbol=symbol, fee_currency=currency):
            continue
        key = (currency, _trade_time(trade) or now)
        if key not in asked:  # the trades of one fill share a time: one look-up
            found = fee_rate_at(currency=currency, quote=quote, at=key[1], exchange=exchange, now=now)
            asked[key] = found.rate if found else None
        rates[trade.id] = asked[key]
    return rates


def _fill_book(order: Order, trade: ExchangeTrade, quote: str, rates: dict) -> Decimal | None:
    """Book one exchange trade as a fill (once per trade id): the fill row, the position and
    the account's cash, with the same arithmetic as paper fills and the rebuild from fills.
    A fee in a third currency is booked at its quote value from `rates` (by trade id; Fill.fee_quote); with
    no rate the fill is booked without it, flagged fee_unpriced, and a fee_unpriced alert
    raised. Returns the P&L it realized, or None if the trade was booked before."""
    if Fill.objects.filter(order=order, exchange_trade_id=trade.id).exists():
        return None
    fee_currency = trade.fee_currency or quote
    fee_quote, unpriced = None, False
    if trade.fee and fee_in_third(symbol=order.symbol, fee_currency=fee_currency):
        rate = rates.get(trade.id)
        fee_quote = fee_quote_value(fee=trade.fee, rate=rate) if rate else None
        unpriced = fee_quote is None
    Fill.objects.create(
        fee_quote=fee_quote,
        fee_unpriced=unpriced,
        order=order,
        account_id=order.account_id,
        symbol=order.symbol,
        side=order.side,
        amount=trade.amount,
        price=trade.price,
        fee=trade.fee,
        fee_currency=fee_currency,
        liquidity=trade.liquidity if trade.liquidity in ("maker", "taker") else "taker",
        exchange_trade_id=trade.id,
        traded_at=_trade_time(trade),
        correlation_id=order.correlation_id,
    )
    terms = fee_terms(symbol=order.symbol, fee=trade.fee, fee_currency=fee_currency, fee_quote=fee_quote)
    position, _ = Position.objects.select_for_update().get_or_create(account_id=order.account_id, symbol=order.symbol)
    realized_before = position.realized_pnl
    _position_book(
        position,
        side=order.side,
        fill=PaperFill(price=trade.price, amount=trade.amount, fee=terms["fee"], fee_currency=fee_currency),
        fee_in_base=terms["fee_in_base"],
    )
    # An increment, not a save of a read value: a tick holding the account row keeps its own
    # copy of the cash, and this must add to whatever the row holds when it commits.
    delta = cash_delta(side=order.side, amount=trade.amount, price=trade.price, **terms)
    TradingAccount.objects.filter(pk=order.account_id).update(cash_balance=F("cash_balance") + delta)
    if unpriced:
        _fee_unpriced_alert(order, trade, fee_currency)
    return position.realized_pnl - realized_before


def _fee_unpriced_alert(order: Order, trade: ExchangeTrade, currency: str) -> None:
    from risk.alerts import alert_raise  # risk imports this module

    alert_raise(
        account_id=order.account_id,
        type="fee_unpriced",
        message=(
            f"fill {trade.id} of {order.symbol} paid {trade.fee} {currency} in fees with no {currency} price "
            "at the fill: booked without its fee; P&L, tax lots and statements are incomplete until it is "
            "priced (trading.fees_price_all, every 5 minutes, or manage.py fees_price)"
        ),
        details={"order": order.pk, "exchange_trade_id": trade.id, "fee": str(trade.fee), "currency": currency},
    )


def order_apply_remote(
    *,
    order_id: int,
    remote: ExchangeOrder,
    trades: tuple[ExchangeTrade, ...] | list,
    actor: Actor,
    reason: str = "",
    exchange: LiveExchange | None = None,
) -> Order:
    """Bring the local order to what the exchange reports: new fills booked (position, cash,
    realized P&L), amounts and fees copied, one audited transition per state change, the
    not-found counter reset. The row lock keeps a submitter and the reconciler from applying
    the same answer twice. `exchange` prices fees paid in a third currency when no stored
    price has them (asked before the transaction)."""
    rates = _fee_rates(trades, symbol=remote.symbol, exchange=exchange)
    with transaction.atomic(), audit_batch():
        order = Order.objects.select_for_update().get(pk=order_id)
        quote = order.symbol.split("/")[1]
        for trade in trades:
            realized = _fill_book(order, trade, quote, rates)
            if realized:
                order.realized_pnl += realized
        fills = list(Fill.objects.filter(order=order))
        filled = sum((f.amount for f in fills), Decimal("0"))
        changed = filled != order.filled_amount or order.exchange_order_id != remote.id
        order.exchange_order_id, order.reconcile_misses = remote.id, 0
        if fills:
            order.filled_amount = filled
            order.average_price = sum((f.amount * f.price for f in fills), Decimal("0")) / filled
            order.fee = sum((f.fee for f in fills), Decimal("0"))
            order.fee_currency = fills[0].fee_currency
        target = remote.status
        if target == OrderStatus.FILLED and filled < order.amount:
            target = OrderStatus.PARTIALLY_FILLED  # trades not all visible yet: next pass
        if order.status == OrderStatus.NEW and target != OrderStatus.NEW:
            order_transition(order=order, status=OrderStatus.SUBMITTED, actor=actor, config_hash="")
        if order.status not in FINAL and (
            target != order.status or (target == OrderStatus.PARTIALLY_FILLED and changed)
        ):
            if target != OrderStatus.SUBMITTED:
                extra = {"filled": order.filled_amount} | ({"reason": reason} if reason else {})
                order_transition(order=order, status=target, actor=actor, config_hash="", extra=extra)
                return order
        order.save()
    return order


def order_adopt(*, account: TradingAccount, remote: ExchangeOrder, actor: Actor, correlation_id: str = "") -> Order:
    """Take an order found open on the exchange with no local row into the database,
    flagged as adopted, so it is tracked, cancellable and reconciled like our own."""
    key = remote.client_order_id or f"adopted-{remote.id}"
    if Order.objects.filter(idempotency_key=key).exists():
        key = f"adopted-{account.exchange_id}-{remote.id}"
    with transaction.atomic():
        order = Order.objects.create(
            account=account,
            symbol=remote.symbol,
            side=remote.side,
            order_type="limit" if remote.type == "limit" else "market",
            amount=remote.amount,
            price=remote.price,
            status=OrderStatus.SUBMITTED,
            idempotency_key=key,
            exchange_order_id=remote.id,
            adopted=True,
            correlation_id=correlation_id,
        )
        audit_append(
            actor=actor,
            action="order.adopted",
            obj=order,
            payload={
                "account": account.pk,
                "symbol": order.symbol,
                "side": order.side,
                "amount": order.amount,
                "status": order.status,
                "client_order_id": remote.client_order_id,
                "exchange_order_id": remote.id,
            },
            correlation_id=correlation_id,
        )
    return order
