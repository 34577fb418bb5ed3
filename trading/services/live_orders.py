"""Orders on a live exchange (SPEC T3, T5): submitted exactly once by idempotency key, their
exchange state applied to the local row, fills booked once per exchange trade id."""

from decimal import Decimal

from django.db import transaction

from compliance.services import Actor, audit_append
from trading.exceptions import ExchangeError, OrderRejected
from trading.exchanges.live import ExchangeOrder, ExchangeTrade, LiveExchange
from trading.exchanges.paper import PaperFill
from trading.models import Fill, Order, OrderStatus, Position, TradingAccount
from trading.services.orders import _order_event, _position_book, order_transition

FINAL = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}


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
    """Place an order exactly once. The row is committed as submitted before the exchange is
    called, so a crash or a lost answer leaves it for reconciliation to resolve by client
    order id (= idempotency key); a retried submit with the same key is a no-op that
    returns the existing order. Rejections are recorded; an unknown outcome stays submitted."""
    with transaction.atomic():
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
        if not created:
            return order
        _order_event(order, actor=actor, config_hash=config_hash)
        order_transition(order=order, status=OrderStatus.SUBMITTED, actor=actor, config_hash=config_hash)
    try:
        remote = exchange.create_order(
            symbol=symbol,
            side=side,
            amount=amount,
            client_order_id=idempotency_key,
            order_type=order_type,
            price=price,
        )
    except OrderRejected as exc:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
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
    return order_apply_remote(order_id=order.pk, remote=remote, trades=remote.trades, actor=actor)


def _fill_book(order: Order, trade: ExchangeTrade, quote: str) -> bool:
    """Book one exchange trade as a fill (once per trade id); returns whether it was new."""
    if Fill.objects.filter(order=order, exchange_trade_id=trade.id).exists():
        return False
    Fill.objects.create(
        order=order,
        account_id=order.account_id,
        symbol=order.symbol,
        side=order.side,
        amount=trade.amount,
        price=trade.price,
        fee=trade.fee,
        fee_currency=trade.fee_currency or quote,
        liquidity=trade.liquidity if trade.liquidity in ("maker", "taker") else "taker",
        exchange_trade_id=trade.id,
        correlation_id=order.correlation_id,
    )
    # Positions are in the quote currency: a fee charged in the base asset is valued at the price.
    fee_quote = trade.fee if (trade.fee_currency or quote) == quote else trade.fee * trade.price
    position, _ = Position.objects.select_for_update().get_or_create(account_id=order.account_id, symbol=order.symbol)
    _position_book(
        position,
        side=order.side,
        fill=PaperFill(price=trade.price, amount=trade.amount, fee=fee_quote, fee_currency=quote),
    )
    return True


def order_apply_remote(
    *, order_id: int, remote: ExchangeOrder, trades: tuple[ExchangeTrade, ...] | list, actor: Actor
) -> Order:
    """Bring the local order to what the exchange reports: new fills booked, amounts and
    fees copied, one audited transition per state change, the not-found counter reset. The
    row lock keeps a submitter and the reconciler from applying the same answer twice."""
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("account").get(pk=order_id)
        quote = order.symbol.split("/")[1]
        for trade in trades:
            _fill_book(order, trade, quote)
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
                order_transition(
                    order=order, status=target, actor=actor, config_hash="", extra={"filled": order.filled_amount}
                )
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
