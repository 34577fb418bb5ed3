"""Order lifecycle services. Every state change writes exactly one audit event, in the
same transaction (SPEC C1, §10)."""

import hashlib
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from compliance.services import Actor, audit_append, audit_batch
from trading.exceptions import OrderRejected
from trading.exchanges.paper import PaperExchange, PaperExecution, PaperFill
from trading.markets import Market
from trading.models import Fill, Order, OrderStatus, Position, Strategy, TradingAccount
from trading.positions import PositionState, cash_delta, position_apply_fill, symbol_dust


def idempotency_key_for(*, account_id: int, cursor: int, strategy_id: int, symbol: str) -> str:
    """Deterministic per (account, tick, strategy, symbol): a re-run of the same tick reuses
    the key, and the unique constraint turns the retry into a no-op. 36 characters, within
    every major exchange's client-order-id limit."""
    digest = hashlib.sha256(f"{account_id}:{cursor}:{strategy_id}:{symbol}".encode()).hexdigest()
    return f"gen-{digest[:32]}"


def _order_event(order: Order, *, actor: Actor, config_hash: str, extra: dict | None = None) -> None:
    payload = {
        "account": order.account_id,
        "symbol": order.symbol,
        "side": order.side,
        "amount": order.amount,
        "status": order.status,
        "client_order_id": order.idempotency_key,
        **(extra or {}),
    }
    audit_append(
        actor=actor,
        action=f"order.{order.status}",
        obj=order,
        payload=payload,
        config_hash=config_hash,
        correlation_id=order.correlation_id,
    )


def order_transition(
    *, order: Order, status: str, actor: Actor, config_hash: str, extra: dict | None = None, save: bool = True
) -> None:
    """Move `order` to `status` (IllegalTransition if the state machine forbids it) and audit.
    `save=False` leaves the row to a later save in the same transaction (a paper order goes
    through all its states in one: one write instead of one per state)."""
    order.check_transition(status)
    order.status = status
    if save:
        order.save()
    _order_event(order, actor=actor, config_hash=config_hash, extra=extra)


def _rejection_breaker(account_id: int, *, ok: bool, now: datetime | None = None) -> None:
    """Feed the paper exchange's answers to the order_rejection_burst breaker (SPEC R5), as the
    live adapter does for the real exchange: every rejection, and an acceptance only when the
    breaker has failures to forgive (a healthy order costs no breaker write)."""
    from risk.models import CircuitBreakerState
    from risk.services.breakers import breaker_record

    source = "order_rejection_burst"
    if ok and not (
        CircuitBreakerState.objects.filter(account_id=account_id, source=source)
        .exclude(state="closed", failures=0)
        .exists()
    ):
        return
    breaker_record(account_id=account_id, source=source, ok=ok, now=now)


def order_execute_paper(
    *,
    account: TradingAccount,
    strategy: Strategy | None,
    position: Position,
    market: Market,
    side: str,
    amount: Decimal,
    last_price: Decimal,
    exchange: PaperExchange,
    idempotency_key: str,
    correlation_id: str,
    config_hash: str,
    actor: Actor,
    reason: str = "",
    at: datetime | None = None,
) -> tuple[Order, PaperExecution | None]:
    """Create, submit and fill (or reject) a market order on the paper exchange, updating the
    position and the account's cash. Runs inside the caller's transaction, under its lock.
    `reason` (the signal or exit rule behind the order) is kept in its first audit event.
    `at` stamps the order and its fill (the engine passes its tick's time, so a fill and the
    equity snapshot it moved always fall in the same period)."""
    with audit_batch():  # its three to four events: one chain-head lock, one insert
        return _execute_paper(
            account=account,
            strategy=strategy,
            position=position,
            market=market,
            side=side,
            amount=amount,
            last_price=last_price,
            exchange=exchange,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            config_hash=config_hash,
            actor=actor,
            reason=reason,
            at=at or timezone.now(),
        )


def _execute_paper(
    *,
    account,
    strategy,
    position,
    market,
    side,
    amount,
    last_price,
    exchange,
    idempotency_key,
    correlation_id,
    config_hash,
    actor,
    reason,
    at,
) -> tuple[Order, PaperExecution | None]:
    order = Order.objects.create(
        created_at=at,
        account=account,
        strategy=strategy,
        symbol=market.symbol,
        side=side,
        amount=amount,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
    )
    _order_event(order, actor=actor, config_hash=config_hash, extra={"reason": reason} if reason else None)
    order_transition(order=order, status=OrderStatus.SUBMITTED, actor=actor, config_hash=config_hash, save=False)
    try:
        fill = exchange.execute_market(
            market=market, side=side, amount=amount, last_price=last_price, available_quote=account.cash_balance
        )
    except OrderRejected as exc:
        order.reject_reason = str(exc)
        order_transition(
            order=order, status=OrderStatus.REJECTED, actor=actor, config_hash=config_hash, extra={"reason": str(exc)}
        )
        _rejection_breaker(account.pk, ok=False, now=at)
        return order, None
    _rejection_breaker(account.pk, ok=True, now=at)
    for part in fill.fills:  # one fill per book level taken
        Fill.objects.create(
            order=order,
            account=account,
            symbol=market.symbol,
            side=side,
            amount=part.amount,
            price=part.price,
            fee=part.fee,
            fee_currency=part.fee_currency,
            liquidity=part.liquidity,
            exchange_trade_id=part.trade_id,
            correlation_id=correlation_id,
            created_at=at,
        )
    order.filled_amount, order.average_price = fill.amount, fill.price
    order.fee, order.fee_currency = fill.fee, fill.fee_currency
    order.exchange_order_id = f"paper-{order.pk}"
    realized_before = position.realized_pnl
    for part in fill.fills:
        _position_book(position, side=side, fill=part, at=at)
    order.realized_pnl = position.realized_pnl - realized_before
    if not fill.complete:
        # A book thinner than the order: what filled stays, the rest expires (IOC).
        order_transition(
            order=order, status=OrderStatus.PARTIALLY_FILLED, actor=actor, config_hash=config_hash, save=False
        )
    order_transition(  # the one write of the order's final state
        order=order,
        status=OrderStatus.FILLED if fill.complete else OrderStatus.EXPIRED,
        actor=actor,
        config_hash=config_hash,
        extra={"price": fill.price, "fee": fill.fee},
    )
    for part in fill.fills:
        account.cash_balance += cash_delta(side=side, amount=part.amount, price=part.price, fee=part.fee)
    return order, fill


def _position_book(
    position: Position, *, side: str, fill: PaperFill, fee_in_base: bool = False, at: datetime | None = None
) -> None:
    state = position_apply_fill(
        PositionState(position.quantity, position.average_cost, position.realized_pnl),
        side=side,
        amount=fill.amount,
        price=fill.price,
        fee=fill.fee,
        fee_in_base=fee_in_base,
    )
    was_open = position.is_open
    position.dust = symbol_dust(position.symbol, quantity=state.quantity, price=fill.price)
    if not was_open and state.quantity > 0 and not position.dust:
        position.opened_at = at or timezone.now()  # the fill's time: pacing counts new positions by it
    position.quantity, position.average_cost, position.realized_pnl = (
        state.quantity,
        state.average_cost,
        state.realized_pnl,
    )
    position.save()
