"""Order lifecycle services. Every state change writes exactly one audit event, in the
same transaction (SPEC C1, §10).

Paper orders go through one set-based path, `paper_orders_execute`: a batch of intents for
one account is carried out in memory first (the paper exchange's fills, fees and checks, the
positions' arithmetic, the cash), then written with one multi-row insert for the orders, one
for their fills, one write per touched position, one for the account's cash and one breaker
check, and its audit events appended to the chain in one batch. `order_execute_paper` is that
path with a batch of one."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from compliance.services import Actor, audit_append, audit_batch
from genesis_site.bulk import row_save, row_update, rows_insert
from trading.exceptions import IdempotencyConflict, OrderRejected
from trading.exchanges.paper import PaperExchange, PaperExecution, PaperFill
from trading.markets import Market
from trading.models import Fill, Order, OrderStatus, Position, Strategy, TradingAccount
from trading.positions import PositionState, cash_delta, position_apply_fill, symbol_dust


def idempotency_key_for(*, account_id: int, tick: int, strategy_id: int, symbol: str) -> str:
    """Deterministic per (account, tick number, strategy, symbol): a re-run of a tick that
    rolled back reuses the key, and the unique constraint turns a retry into a no-op. The tick
    number (TradingAccount.tick_seq), not the feed cursor, since a change of market data
    source starts the cursor again and must not bring back keys already used. 36 characters,
    within every major exchange's client-order-id limit."""
    digest = hashlib.sha256(f"{account_id}:{tick}:{strategy_id}:{symbol}".encode()).hexdigest()
    return f"gen-{digest[:32]}"


def _order_event(
    order: Order, *, actor: Actor, config_hash: str, extra: dict | None = None, status: str | None = None
) -> None:
    """Audit `order` in `status` (default: its current one)."""
    status = status or order.status
    payload = {
        "account": order.account_id,
        "symbol": order.symbol,
        "side": order.side,
        "amount": order.amount,
        "status": status,
        "client_order_id": order.idempotency_key,
        **(extra or {}),
    }
    audit_append(
        actor=actor,
        action=f"order.{status}",
        obj=order,
        payload=payload,
        config_hash=config_hash,
        correlation_id=order.correlation_id,
    )


def order_transition(
    *, order: Order, status: str, actor: Actor, config_hash: str, extra: dict | None = None, save: bool = True
) -> None:
    """Move `order` to `status` (IllegalTransition if the state machine forbids it) and audit.
    `save=False` leaves the row to a later save in the same transaction."""
    order.check_transition(status)
    order.status = status
    if save:
        order.save()
    _order_event(order, actor=actor, config_hash=config_hash, extra=extra)


def _rejection_breaker(
    account_id: int, *, outcomes: list[bool], now: datetime | None = None, unsettled: bool | None = None
) -> None:
    """Feed the paper exchange's answers, in order, to the order rejection breaker (SPEC R5),
    as the live adapter does for the real exchange: every rejection, and acceptances only
    when the breaker is unsettled (failures to forgive, or not closed), which costs a read
    unless the caller knows (`unsettled`, from the engine tick's reads)."""
    from risk.models import REJECTION_BREAKER, CircuitBreakerState
    from risk.services.breakers import breaker_record_many

    if not outcomes:
        return
    if all(outcomes):
        if unsettled is None:
            unsettled = (
                CircuitBreakerState.objects.filter(account_id=account_id, source=REJECTION_BREAKER)
                .exclude(state="closed", failures=0)
                .exists()
            )
        if not unsettled:
            return
    breaker_record_many(account_id=account_id, source=REJECTION_BREAKER, outcomes=outcomes, now=now)


@dataclass(frozen=True)
class PaperIntent:
    """One market order to place on the paper exchange. `idempotency_key` is its client
    order id: an intent whose key is already recorded is a replay and is not placed again.
    `reason` (the signal or exit rule behind it) is kept in its first audit event."""

    market: Market
    side: str
    amount: Decimal
    last_price: Decimal
    idempotency_key: str
    correlation_id: str
    strategy: Strategy | None = None
    reason: str = ""


@dataclass
class _Placed:
    """An intent carried out in memory: the order in its final state (not yet written), its
    execution (None: rejected, with the exchange's reason) and the states it went through."""

    intent: PaperIntent
    order: Order
    execution: PaperExecution | None
    path: list[str]
    position: Position | None = None


def paper_orders_execute(
    *,
    account: TradingAccount,
    intents: list[PaperIntent],
    exchange: PaperExchange,
    config_hash: str,
    actor: Actor,
    positions: dict[str, Position] | None = None,
    at: datetime | None = None,
    save_cash: bool = True,
    check_replays: bool = True,
    rejections_unsettled: bool | None = None,
) -> list[tuple[Order, PaperExecution | None]]:
    """Place `intents` in order on the paper exchange for `account`: create, submit and fill
    (or reject) each market order, booking its fills into the position and the cash, exactly
    as one call per intent would (each sees the cash and positions the earlier ones left).
    Returns (order, execution) per intent; execution is None for a rejected order and for a
    replay (an intent whose idempotency key is already recorded: its existing order is
    returned and nothing is placed or written again; IdempotencyConflict if that order is not
    the same order). A rejected order is recorded as rejected and the next ones still go.

    Runs inside the caller's transaction, under its account row lock (positions are read
    without their own lock). `positions` (by symbol) are the account's rows the caller holds
    and are updated in place; symbols missing from it are read, or created when first filled.
    `at` stamps the orders and fills (default: now). `save_cash=False` leaves the account's
    cash to the caller's own save of the account in the same transaction (the engine tick).
    `check_replays=False` skips the read of recorded keys for a caller whose keys are new by
    construction (the engine tick: its tick number never repeats); a key recorded after all
    is still refused by the unique constraint, which rolls back the caller's transaction.
    `rejections_unsettled`: whether the order rejection breaker is unsettled, if the caller
    read it (see _rejection_breaker)."""
    at = at or timezone.now()
    positions = {} if positions is None else positions
    with audit_batch():  # the batch's events: one chain-head lock, one insert
        replays = _replays(account, intents) if check_replays else {}
        _positions_load(account, positions, {i.market.symbol for i in intents if i.idempotency_key not in replays})
        placed = [
            _place(account, positions, intent, exchange, at)
            for intent in intents
            if intent.idempotency_key not in replays
        ]
        _write(account, placed, at=at, save_cash=save_cash)
        for p in placed:
            _placed_events(p, actor=actor, config_hash=config_hash)
        _rejection_breaker(
            account.pk, outcomes=[p.execution is not None for p in placed], now=at, unsettled=rejections_unsettled
        )
    done = {p.intent.idempotency_key: (p.order, p.execution) for p in placed}
    return [done.get(i.idempotency_key) or (replays[i.idempotency_key], None) for i in intents]


def _replays(account: TradingAccount, intents: list[PaperIntent]) -> dict[str, Order]:
    """The intents' orders already recorded, by key (one query). A key recorded for another
    account, symbol, side or amount is not a replay but a collision: refused."""
    keys = [i.idempotency_key for i in intents]
    if len(set(keys)) != len(keys):
        raise IdempotencyConflict("idempotency_key: the same key appears twice in one batch")
    existing = {o.idempotency_key: o for o in Order.objects.filter(idempotency_key__in=keys)}
    for intent in intents:
        order = existing.get(intent.idempotency_key)
        if order is not None and (order.account_id, order.symbol, order.side, order.amount) != (
            account.pk,
            intent.market.symbol,
            intent.side,
            intent.amount,
        ):
            raise IdempotencyConflict(
                f"idempotency_key: {intent.idempotency_key} is already used by order {order.pk} "
                f"({order.side} {order.amount} {order.symbol}, account {order.account_id})"
            )
    return existing


def _positions_load(account: TradingAccount, positions: dict[str, Position], symbols: set[str]) -> None:
    missing = symbols - positions.keys()
    if missing:
        positions.update({p.symbol: p for p in Position.objects.filter(account=account, symbol__in=missing)})


def _place(
    account: TradingAccount, positions: dict[str, Position], intent: PaperIntent, exchange: PaperExchange, at
) -> _Placed:
    """Carry out one intent in memory: the exchange's answer, the position and the cash."""
    market, side = intent.market, intent.side
    order = Order(
        created_at=at,
        account=account,
        strategy=intent.strategy,
        symbol=market.symbol,
        side=side,
        amount=intent.amount,
        idempotency_key=intent.idempotency_key,
        correlation_id=intent.correlation_id,
    )
    placed = _Placed(intent, order, None, [OrderStatus.NEW])
    _advance(placed, OrderStatus.SUBMITTED)
    try:
        fill = exchange.execute_market(
            market=market,
            side=side,
            amount=intent.amount,
            last_price=intent.last_price,
            available_quote=account.cash_balance,
        )
    except OrderRejected as exc:
        order.reject_reason = str(exc)
        _advance(placed, OrderStatus.REJECTED)
        return placed
    position = positions.get(market.symbol)
    if position is None:
        position = positions[market.symbol] = Position(account=account, symbol=market.symbol)
    realized_before = position.realized_pnl
    for part in fill.fills:  # one fill per book level taken
        _position_apply(position, side=side, fill=part, at=at)
        account.cash_balance += cash_delta(side=side, amount=part.amount, price=part.price, fee=part.fee)
    order.filled_amount, order.average_price = fill.amount, fill.price
    order.fee, order.fee_currency = fill.fee, fill.fee_currency
    order.exchange_order_id = fill.order_id
    order.realized_pnl = position.realized_pnl - realized_before
    if not fill.complete:
        # A book thinner than the order: what filled stays, the rest expires (IOC).
        _advance(placed, OrderStatus.PARTIALLY_FILLED)
    _advance(placed, OrderStatus.FILLED if fill.complete else OrderStatus.EXPIRED)
    placed.execution, placed.position = fill, position
    return placed


def _advance(placed: _Placed, status: str) -> None:
    placed.order.check_transition(status)  # the order state machine, as for any order
    placed.order.status = status
    placed.path.append(status)


def _write(account: TradingAccount, placed: list[_Placed], *, at: datetime, save_cash: bool) -> None:
    """The batch's rows: orders in one insert, fills in one, each touched position once, the
    cash once."""
    if not placed:
        return
    rows_insert(Order, [p.order for p in placed])  # sets their pks (RETURNING)
    filled = [p for p in placed if p.execution is not None]
    fills = [
        Fill(
            order=p.order,
            account=account,
            symbol=p.order.symbol,
            side=p.order.side,
            amount=part.amount,
            price=part.price,
            fee=part.fee,
            fee_currency=part.fee_currency,
            liquidity=part.liquidity,
            exchange_trade_id=part.trade_id,
            correlation_id=p.order.correlation_id,
            created_at=at,
        )
        for p in filled
        for part in p.execution.fills
    ]
    if fills:
        rows_insert(Fill, fills, keys=False)
    for position in {id(p.position): p.position for p in filled}.values():
        row_save(position)
    if filled and save_cash:
        row_update(account, ["cash_balance"])


def _placed_events(placed: _Placed, *, actor: Actor, config_hash: str) -> None:
    """One event per state the order went through, as order_transition writes them."""
    order, execution, reason = placed.order, placed.execution, placed.intent.reason
    for status in placed.path:
        extra = None
        if status == OrderStatus.NEW and reason:
            extra = {"reason": reason}
        elif status == OrderStatus.REJECTED:
            extra = {"reason": order.reject_reason}
        elif status in (OrderStatus.FILLED, OrderStatus.EXPIRED):
            extra = {"price": execution.price, "fee": execution.fee}
        _order_event(order, actor=actor, config_hash=config_hash, extra=extra, status=status)


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
    """One paper market order: `paper_orders_execute` with a batch of one (see there)."""
    intent = PaperIntent(
        market=market,
        side=side,
        amount=amount,
        last_price=last_price,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
        strategy=strategy,
        reason=reason,
    )
    return paper_orders_execute(
        account=account,
        intents=[intent],
        exchange=exchange,
        config_hash=config_hash,
        actor=actor,
        positions={market.symbol: position},
        at=at,
    )[0]


def _position_apply(
    position: Position, *, side: str, fill: PaperFill, fee_in_base: bool = False, at: datetime | None = None
) -> None:
    """Book one fill into `position` in memory (the shared arithmetic of trading.positions)."""
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


def _position_book(
    position: Position, *, side: str, fill: PaperFill, fee_in_base: bool = False, at: datetime | None = None
) -> None:
    """Book one fill into `position` and save it (the live path's fills arrive one by one)."""
    _position_apply(position, side=side, fill=fill, fee_in_base=fee_in_base, at=at)
    position.save()
