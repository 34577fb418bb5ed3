"""Stop levels (SPEC R6): pause entries, halt (the kill switch) and flatten, and release.

Every change takes the account row lock that the engine tick also takes, so a tick either
ran entirely before the change or sees it: once a halt commits, no order follows. Each change
is audited with its reason and persists across restarts (it is database state)."""

import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from compliance.services import Actor, audit_append
from genesis_site.domain_errors import Conflict
from risk.alerts import alert_raise
from risk.exceptions import RiskError
from risk.models import SymbolLock
from risk.selectors import config_version_active
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
)
from trading.services.orders import order_execute_paper, order_transition


class StopRefused(RiskError):
    code = "stop_refused"


class StopConflict(StopRefused, Conflict):
    """The account or symbol is not in a state this stop or release applies to."""

    code = "stop_conflict"


def _locked_account(account_id: int, reason: str) -> TradingAccount:
    if not reason.strip():
        raise StopRefused("reason: every stop and release needs a reason")
    return TradingAccount.objects.select_for_update().get(pk=account_id)


def _audit(account: TradingAccount, actor: Actor, action: str, **payload) -> None:
    version = config_version_active(account_id=account.pk)
    audit_append(
        actor=actor,
        action=action,
        obj=account,
        payload={"account": account.pk, **payload},
        config_hash=version.sha256 if version else "",
    )


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
                raise StopRefused(f"strategy: no active strategy {strategy!r} on account {account.name}")
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


def trading_halt(*, account_id: int, actor: Actor, reason: str) -> int:
    """The kill switch: no new orders at all, and every open order cancelled. Returns how
    many orders were cancelled."""
    with transaction.atomic():
        account = _locked_account(account_id, reason)
        return trading_halt_locked(account, actor, reason, level=StopLevel.HALT)


def trading_halt_locked(account: TradingAccount, actor: Actor, reason: str, *, level: str = StopLevel.HALT) -> int:
    """Halt an account whose row the caller has locked (the engine's automatic halt)."""
    _set_level(account, level, reason)
    version = config_version_active(account_id=account.pk)
    config_hash = version.sha256 if version else ""
    cancelled = 0
    for order in Order.objects.select_for_update().filter(account=account, status__in=OPEN_ORDER_STATUSES):
        order_transition(
            order=order,
            status=OrderStatus.CANCELLED,
            actor=actor,
            config_hash=config_hash,
            extra={"reason": f"{level}: {reason}"},
        )
        cancelled += 1
    _audit(account, actor, f"stop.{level}", reason=reason, cancelled_orders=cancelled)
    alert_raise(
        account_id=account.pk,
        type="kill_switch",
        message=f"{level} by {actor.name}: {reason}",
        details={"level": level, "cancelled_orders": cancelled},
    )
    return cancelled


def trading_flatten(*, account_id: int, actor: Actor, reason: str, exchange: PaperExchange | None = None) -> int:
    """Halt, then close every open position at market. Returns how many were closed."""
    exchange = exchange or PaperExchange()
    with transaction.atomic():
        account = _locked_account(account_id, reason)
        trading_halt_locked(account, actor, reason, level=StopLevel.FLATTEN)
        version = config_version_active(account_id=account.pk)
        correlation_id = uuid.uuid4().hex
        closed = 0
        for position in Position.objects.select_for_update().filter(account=account, quantity__gt=0):
            _order, fill = order_execute_paper(
                account=account,
                strategy=None,
                position=position,
                market=market_get(position.symbol),
                side="sell",
                amount=position.quantity,
                last_price=position.mark_price or position.average_cost,
                exchange=exchange,
                idempotency_key=f"flat-{uuid.uuid4().hex[:31]}",
                correlation_id=correlation_id,
                config_hash=version.sha256 if version else "",
                actor=actor,
            )
            closed += fill is not None
        account.save(update_fields=["cash_balance"])
    return closed


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
                raise StopRefused(f"strategy: no paused strategy {strategy!r} on account {account.name}")
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
