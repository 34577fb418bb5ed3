"""Stop levels (SPEC R6): pause entries, halt (the kill switch) and flatten, and release.

Every change takes the account row lock that the engine tick also takes, so a tick either
ran entirely before the change or sees it: once a halt commits, no order follows. Each change
is audited with its reason and persists across restarts (it is database state).

LIVE accounts (SPEC R6, §9 "kill switch POST p99 <= 50 ms", §10 "cancels go out within 2 s"):
the stop level and its audit commit, and the caller gets its answer without waiting for the
exchange (counted in `StopResult.cancel_on_exchange`). Once committed, the `risk.stop_enforce_live`
task (a Celery worker with late acks, or the embedded mode's urgent worker thread) cancels every
open order on the exchange by client order id and applies the answer (cancelled, or filled if it
filled first); a flatten's exits are sent after its cancels. A caller that must see the outcome
(`trading_stop`, tests) passes `wait=True` and runs the same `stop_enforce_live` before it
returns. No row is called cancelled before the exchange says so, and no transaction is held
across a network call. A cancel that fails after the adapter's retries, or a task that is lost
(a broker outage, every worker gone), leaves the order open in the database: the next engine
tick of the halted account and every reconciliation pass cancel it. Orders committed before the
halt but not yet sent are refused by `order_send_live`'s check under the row locks, and
reconciliation cancels anything a halted account has open on the exchange.
"""

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance.services import Actor, audit_append
from genesis_site.domain_errors import Conflict, NotFound
from risk.alerts import alert_raise
from risk.exceptions import RiskError
from risk.models import SymbolLock
from risk.selectors import config_version_active
from trading.exceptions import ExchangeError, OrderNotFound, OrderRejected
from trading.exchanges.live import LiveExchange
from trading.exchanges.paper import PaperExchange
from trading.live import account_changed
from trading.markets import market_get
from trading.models import (
    OPEN_ORDER_STATUSES,
    Order,
    OrderStatus,
    Position,
    StopLevel,
    Strategy,
    StrategyState,
    TradingAccount,
    TradingMode,
)
from trading.positions import sellable_amount
from trading.services.live_orders import (
    FLATTEN_KEY_PREFIX,
    order_cancel_live,
    order_is_flatten_exit,
    order_prepare_live,
    order_send_live,
)
from trading.services.orders import PaperIntent, order_transition, paper_orders_execute

logger = logging.getLogger(__name__)


class StopRefused(RiskError):
    code = "stop_refused"


class StopConflict(StopRefused, Conflict):
    """The account or symbol is not in a state this stop or release applies to."""

    code = "stop_conflict"


class StopNotFound(StopRefused, NotFound):
    """The stop or release names a strategy the account does not have."""

    code = "stop_not_found"


def _locked_account(account_id: int, reason: str) -> TradingAccount:
    if not reason.strip():
        raise StopRefused("reason: every stop and release needs a reason")
    return TradingAccount.objects.select_for_update().get(pk=account_id)


def _audit(account: TradingAccount, actor: Actor, action: str, *, config_hash: str | None = None, **payload) -> None:
    if config_hash is None:
        version = config_version_active(account_id=account.pk)
        config_hash = version.sha256 if version else ""
    audit_append(
        actor=actor, action=action, obj=account, payload={"account": account.pk, **payload}, config_hash=config_hash
    )


def _strategy_refused(account: TradingAccount, name: str, wanted: str) -> StopRefused:
    """Why a pause (wanted "active") or resume (wanted "paused") of strategy `name` changed
    nothing: no such strategy (404), or one in another state (409)."""
    state = Strategy.objects.filter(account=account, name=name).values_list("state", flat=True).first()
    if state is None:
        return StopNotFound(f"strategy: no strategy {name!r} on account {account.name}")
    return StopConflict(f"strategy: {name!r} on account {account.name} is {state}, not {wanted}")


def _set_level(account: TradingAccount, level: str, reason: str) -> None:
    account.stop_level, account.stop_reason = level, reason
    account.save(update_fields=["stop_level", "stop_reason"])
    account_changed(account_id=account.pk, kind="stop", stop_level=level)


def trading_pause_entries(
    *,
    account_id: int,
    actor: Actor,
    reason: str,
    strategy: str | None = None,
    symbol: str | None = None,
    minutes: int | None = None,
) -> None:
    """No new positions for the account, one strategy, or one symbol for `minutes`; exits,
    stop losses and take profits keep working."""
    with transaction.atomic():
        account = _locked_account(account_id, reason)
        if strategy is not None:
            updated = Strategy.objects.filter(account=account, name=strategy).exclude(state=StrategyState.DISABLED)
            if not updated.update(state=StrategyState.PAUSED):
                raise _strategy_refused(account, strategy, "active")
            _audit(account, actor, "stop.pause_entries", scope="strategy", strategy=strategy, reason=reason)
            account_changed(account_id=account.pk, kind="strategy", strategy=strategy, state=StrategyState.PAUSED)
        elif symbol is not None:
            if not minutes or minutes < 1:
                raise StopRefused("minutes: a symbol lock needs a duration of at least 1 minute")
            market_get(symbol)  # UnknownMarket names the known ones
            until = timezone.now() + timedelta(minutes=minutes)
            SymbolLock.objects.create(account=account, symbol=symbol, until=until, reason=reason, created_by=actor.name)
            _audit(account, actor, "stop.pause_entries", scope="symbol", symbol=symbol, until=until, reason=reason)
            account_changed(account_id=account.pk, kind="stop", symbol=symbol)
        else:
            if account.stop_level != StopLevel.NONE:
                raise StopConflict(f"account {account.name} is already at {account.stop_level}")
            _set_level(account, StopLevel.PAUSE_ENTRIES, reason)
            _audit(account, actor, "stop.pause_entries", scope="account", reason=reason)


@dataclass(frozen=True)
class StopResult:
    """What a halt or flatten has done by the time it returns. The stop level is in force
    once it returns. A LIVE account's exchange work (`stop_enforce_live`) starts after the
    commit and is counted in `cancel_on_exchange` and `exit_orders`; the other counts say
    what is already settled (with `wait`, that includes the exchange's answers)."""

    cancelled_orders: int = 0  # paper: in the stop's transaction; LIVE: confirmed by the exchange
    cancel_on_exchange: int = 0  # LIVE: open orders whose cancel goes to the exchange after the commit
    closed_positions: int = 0  # flatten: sold (paper; LIVE: filled, with wait) or recorded as dust
    exit_orders: int = 0  # LIVE flatten: market sells sent after the cancels

    def orders_text(self) -> str:
        """The orders part of the answer shown to whoever stopped the account."""
        if not self.cancel_on_exchange:
            return f"{self.cancelled_orders} open order(s) cancelled"
        return f"{self.cancel_on_exchange} open order(s) being cancelled on the exchange"

    def positions_text(self) -> str:
        """The positions part of a flatten's answer."""
        closed = f"{self.closed_positions} position(s) closed"
        if not self.exit_orders:
            return closed
        return f"{closed}, {self.exit_orders} being sold at market on the exchange after the cancels"


def trading_halt(
    *, account_id: int, actor: Actor, reason: str, wait: bool = False, exchange: LiveExchange | None = None
) -> StopResult:
    """The kill switch: no new orders at all once it returns, and every open order cancelled.
    A paper account's orders are cancelled in the halt's transaction. A LIVE account's are
    cancelled on the exchange after the commit by `stop_enforce_live`: queued (the caller does
    not wait for the exchange), or with `wait` run here before returning (on `exchange` if
    given: tests, benchmarks)."""
    with transaction.atomic():
        account = _locked_account(account_id, reason)
        counted = trading_halt_locked(account, actor, reason, level=StopLevel.HALT)
        if account.mode != TradingMode.LIVE:
            return StopResult(cancelled_orders=counted)
        if counted and not wait:
            _stop_enforce_queue(account.pk, actor, f"halt: {reason}")
    result = StopResult(cancel_on_exchange=counted)
    if wait:
        done = stop_enforce_live(account_id=account.pk, actor=actor, reason=f"halt: {reason}", exchange=exchange)
        result = replace(result, cancelled_orders=done.cancelled_orders)
    return result


def _stop_enforce_queue(
    account_id: int, actor: Actor, reason: str, exits: list[int] | None = None, config_hash: str = ""
) -> None:
    """Start the stop's exchange work once the stop commits, without waiting for it. Delivered
    at least once: late acks redeliver it if a worker dies; and were it lost all the same,
    the halted account's next tick and every reconciliation pass cancel its open orders."""
    from genesis_site.scheduler import task_queue, urgent
    from risk.tasks import stop_enforce_live_task

    args = (account_id, actor.type, actor.name, reason, exits or [], config_hash)
    transaction.on_commit(
        lambda: task_queue(stop_enforce_live_task, args, worker=urgent, in_background=settings.GENESIS_STOP_BACKGROUND),
        robust=True,  # a broker outage must not turn a committed halt into an error answer
    )


def stop_enforce_live(
    *,
    account_id: int,
    actor: Actor,
    reason: str,
    exit_order_ids: list[int] | None = None,
    config_hash: str = "",
    exchange: LiveExchange | None = None,
) -> StopResult:
    """A committed halt's or flatten's work on the exchange, outside any transaction: every
    open order cancelled (`live_orders_cancel`), then a flatten's exits sent. Idempotent, so
    safe to deliver twice: a settled order is neither cancelled nor sent again, and an exit
    already on the exchange is found by its client order id. Returns the cancels the exchange
    confirmed and the exits that filled."""
    live = _live_exchange(account_id, exchange)
    # Cancels first: a resting sell holds the coins the exit has to sell.
    cancelled = live_orders_cancel(account_id=account_id, actor=actor, reason=reason, exchange=live)
    exits = list(Order.objects.filter(pk__in=exit_order_ids or []).order_by("pk"))
    if live is None:
        if exits:
            alert_raise(
                account_id=account_id,
                type="api_error_burst",
                message=f"{reason}: {len(exits)} exit order(s) not sent: no exchange credentials",
                details={"orders": [order.idempotency_key for order in exits]},
            )
        return StopResult(cancelled_orders=cancelled)  # unsent exits: reconciliation fails them
    filled = sum(
        order_send_live(order=order, exchange=live, actor=actor, config_hash=config_hash).status == OrderStatus.FILLED
        for order in exits
    )
    return StopResult(cancelled_orders=cancelled, closed_positions=filled)


def trading_halt_locked(account: TradingAccount, actor: Actor, reason: str, *, level: str = StopLevel.HALT) -> int:
    """Halt an account whose row the caller has locked (the engine's automatic halt). A paper
    account's open orders are cancelled here; a LIVE account's are cancelled on the exchange
    by `live_orders_cancel` once the caller has committed. Returns the paper cancels, or the
    LIVE orders still to cancel."""
    _set_level(account, level, reason)
    version = config_version_active(account_id=account.pk)
    config_hash = version.sha256 if version else ""
    cancelled = 0
    live = account.mode == TradingMode.LIVE
    if live:
        cancelled = Order.objects.filter(account=account, status__in=OPEN_ORDER_STATUSES).count()
    else:
        for order in Order.objects.select_for_update().filter(account=account, status__in=OPEN_ORDER_STATUSES):
            order_transition(
                order=order,
                status=OrderStatus.CANCELLED,
                actor=actor,
                config_hash=config_hash,
                extra={"reason": f"{level}: {reason}"},
            )
            cancelled += 1
    counted = {"cancel_on_exchange": cancelled} if live else {"cancelled_orders": cancelled}
    _audit(account, actor, f"stop.{level}", config_hash=config_hash, reason=reason, **counted)
    alert_raise(
        account_id=account.pk,
        type="kill_switch",
        message=f"{level} by {actor.name}: {reason}",
        details={"level": level, **counted},
    )
    return cancelled


def _live_exchange(account_id: int, exchange: LiveExchange | None) -> LiveExchange | None:
    if exchange is not None:
        return exchange
    from trading.services.engine import live_exchange_session  # the engine imports this module

    return live_exchange_session(account_id=account_id)


def live_orders_cancel(
    *,
    account_id: int,
    actor: Actor,
    reason: str,
    exchange: LiveExchange | None = None,
    keep_flatten_exits: bool = True,
) -> int:
    """Cancel a LIVE account's open orders on the exchange, one by client order id, outside
    any transaction, each answer applied to its row (cancelled, or filled first). Run after
    the stop's commit. A flatten's own exits are kept unless `keep_flatten_exits` is False.
    Returns how many the exchange confirmed cancelled; an order the exchange does not know
    (not sent yet: the send check refuses it) or could not be reached for stays open in the
    database and is alerted, for the next tick or reconciliation pass."""
    orders = [
        o
        for o in Order.objects.filter(account_id=account_id, status__in=OPEN_ORDER_STATUSES).order_by("pk")
        if not (keep_flatten_exits and order_is_flatten_exit(o))
    ]
    if not orders:
        return 0
    exchange = _live_exchange(account_id, exchange)
    if exchange is None:
        alert_raise(
            account_id=account_id,
            type="api_error_burst",
            message=f"{len(orders)} open order(s) not cancelled: no exchange credentials; left to reconciliation",
            details={"orders": [o.idempotency_key for o in orders]},
        )
        return 0
    cancelled, failed = 0, {}
    for order in orders:
        try:
            after = order_cancel_live(order_id=order.pk, exchange=exchange, actor=actor, reason=reason)
        except OrderNotFound:
            continue  # never reached the exchange: order_send_live's check cancels it unsent
        except (ExchangeError, OrderRejected) as exc:
            failed[order.idempotency_key] = exc.code
            continue
        except Exception:  # one order's surprise must not keep the kill switch from the others
            logger.exception("cancel on the exchange raised", extra={"account": account_id, "order": order.pk})
            failed[order.idempotency_key] = "error"
            continue
        cancelled += after.status == OrderStatus.CANCELLED
    if failed:
        logger.error("cancel on the exchange failed", extra={"account": account_id, "orders": failed})
        alert_raise(  # not kill_switch: the halt's own alert of that type would absorb it
            account_id=account_id,
            type="api_error_burst",
            message=f"{len(failed)} cancel(s) failed on the exchange; retried by the next tick and reconciliation",
            details={"failed": failed},
        )
    return cancelled


def trading_flatten(
    *,
    account_id: int,
    actor: Actor,
    reason: str,
    wait: bool = False,
    exchange: PaperExchange | LiveExchange | None = None,
) -> StopResult:
    """Halt, then close every open position at market: each sells the largest amount the market
    accepts (on its lot step, at or above its minimum amount and notional). What no order can
    sell is recorded as dust (audited `position.dust`): the position is then closed for
    exposure, risk and this count, its quantity kept. A paper account is flattened in one
    transaction. A LIVE account's exits are recorded as submitted with the stop; its cancels
    and then its exits go to the exchange after the commit (`stop_enforce_live`), queued, or
    with `wait` run here before returning."""
    with transaction.atomic():
        account = _locked_account(account_id, reason)
        if account.mode != TradingMode.LIVE:
            paper = exchange if isinstance(exchange, PaperExchange) else PaperExchange()
            return _flatten_paper(account, actor, reason, paper)
        to_cancel, exits, dusted, config_hash = _flatten_prepare_live(account, actor, reason)
        if (to_cancel or exits) and not wait:
            _stop_enforce_queue(account.pk, actor, f"flatten: {reason}", exits, config_hash)
    result = StopResult(cancel_on_exchange=to_cancel, closed_positions=dusted, exit_orders=len(exits))
    if wait:
        done = stop_enforce_live(
            account_id=account.pk,
            actor=actor,
            reason=f"flatten: {reason}",
            exit_order_ids=exits,
            config_hash=config_hash,
            exchange=exchange if isinstance(exchange, LiveExchange) else None,
        )
        result = replace(
            result, cancelled_orders=done.cancelled_orders, closed_positions=dusted + done.closed_positions
        )
    return result


def _flatten_amount(position: Position, price: Decimal, actor: Actor, config_hash: str) -> Decimal:
    """What a flatten sells of `position` at `price` (trading.positions.sellable_amount); when
    nothing, the position is recorded as dust and audited with the market's minimums."""
    market = market_get(position.symbol)
    amount = sellable_amount(market, quantity=position.quantity, price=price)
    if amount <= 0:
        position.dust = True
        position.save(update_fields=["dust", "updated_at"])
        audit_append(
            actor=actor,
            action="position.dust",
            obj=position,
            payload={
                "account": position.account_id,
                "symbol": position.symbol,
                "quantity": position.quantity,
                "price": price,
                "lot_step": market.amount_step,
                "min_amount": market.min_amount,
                "min_notional": market.min_notional,
                "reason": "flatten: below what the exchange can sell",
            },
            config_hash=config_hash,
        )
    return amount


def _flatten_paper(account: TradingAccount, actor: Actor, reason: str, exchange: PaperExchange) -> StopResult:
    cancelled = trading_halt_locked(account, actor, reason, level=StopLevel.FLATTEN)
    version = config_version_active(account_id=account.pk)
    config_hash = version.sha256 if version else ""
    correlation_id = uuid.uuid4().hex
    positions = {
        p.symbol: p for p in Position.objects.select_for_update().filter(account=account, quantity__gt=0, dust=False)
    }
    intents, dust = [], 0
    for position in positions.values():
        market = market_get(position.symbol)
        last = position.mark_price or position.average_cost
        amount = _flatten_amount(
            position, exchange.quote_price(market=market, side="sell", last_price=last), actor, config_hash
        )
        if amount <= 0:
            dust += 1  # dust: nothing any order can sell
            continue
        intents.append(
            PaperIntent(
                market=market,
                side="sell",
                amount=amount,
                last_price=last,
                idempotency_key=f"{FLATTEN_KEY_PREFIX}{uuid.uuid4().hex[:31]}",
                correlation_id=correlation_id,
            )
        )
    # Every exit in one batch: one insert of the orders, one of their fills, one audit append.
    placed = paper_orders_execute(
        account=account,
        intents=intents,
        exchange=exchange,
        config_hash=config_hash,
        actor=actor,
        positions=positions,
    )
    return StopResult(cancelled_orders=cancelled, closed_positions=dust + sum(fill is not None for _, fill in placed))


def _flatten_prepare_live(account: TradingAccount, actor: Actor, reason: str) -> tuple[int, list[int], int, str]:
    """Under the account lock: the flatten level, and one market sell per position recorded as
    submitted (sent after the commit), of the largest amount the market accepts at the last
    mark. Returns the open orders to cancel, the exits' ids, how many positions were recorded
    as dust instead, and the config hash the exits were decided under."""
    to_cancel = trading_halt_locked(account, actor, reason, level=StopLevel.FLATTEN)
    version = config_version_active(account_id=account.pk)
    config_hash = version.sha256 if version else ""
    correlation_id = uuid.uuid4().hex
    exits, dusted = [], 0
    for position in Position.objects.filter(account=account, quantity__gt=0, dust=False).order_by("symbol"):
        amount = _flatten_amount(position, position.mark_price or position.average_cost, actor, config_hash)
        if amount <= 0:
            dusted += 1
            continue
        order, _ = order_prepare_live(
            account=account,
            symbol=position.symbol,
            side="sell",
            amount=amount,
            idempotency_key=f"{FLATTEN_KEY_PREFIX}{uuid.uuid4().hex[:31]}",
            actor=actor,
            correlation_id=correlation_id,
            config_hash=config_hash,
            reason=f"flatten: {reason}",
        )
        exits.append(order.pk)
    return to_cancel, exits, dusted, config_hash


def trading_release(
    *, account_id: int, actor: Actor, reason: str, strategy: str | None = None, symbol: str | None = None
) -> None:
    """Undo a stop: resume a paused strategy, lift a symbol's locks, or return the account
    to normal trading."""
    with transaction.atomic():
        account = _locked_account(account_id, reason)
        if strategy is not None:
            if not Strategy.objects.filter(account=account, name=strategy, state=StrategyState.PAUSED).update(
                state=StrategyState.ACTIVE
            ):
                raise _strategy_refused(account, strategy, "paused")
            _audit(account, actor, "stop.release", scope="strategy", strategy=strategy, reason=reason)
            account_changed(account_id=account.pk, kind="strategy", strategy=strategy, state=StrategyState.ACTIVE)
        elif symbol is not None:
            lifted = SymbolLock.objects.filter(account=account, symbol=symbol, until__gt=timezone.now()).update(
                until=timezone.now()
            )
            if not lifted:
                raise StopConflict(f"symbol: {symbol} is not locked on account {account.name}")
            _audit(account, actor, "stop.release", scope="symbol", symbol=symbol, reason=reason)
            account_changed(account_id=account.pk, kind="stop", symbol=symbol)
        else:
            if account.stop_level == StopLevel.NONE:
                raise StopConflict(f"account {account.name} is not stopped")
            previous = account.stop_level
            _set_level(account, StopLevel.NONE, "")
            _audit(account, actor, "stop.release", scope="account", previous=previous, reason=reason)
