"""Order reconciliation after a reconnect or restart (SPEC T5, §10).

Every local order that is not final is looked up on the exchange by its client order id (=
its idempotency key), and its status and fills are brought up to date. Exchanges briefly
deny orders they hold, so an order is failed only after `max_misses` consecutive passes that
did not find it (the counter is persisted on the order; any sighting resets it). Orders open
on the exchange with no local row are adopted into the database, flagged, and alerted. An
unreachable exchange changes nothing: the next pass tries again.

On a halted or flattened account the pass also enforces the stop (SPEC R6): every order found
open on the exchange, except a flatten's own exits, is cancelled there and the answer applied.
This closes the window between `order_send_live`'s check and a halt committing just after it.
"""

import uuid
from dataclasses import dataclass, field

from django.db import transaction

from compliance.services import Actor, audit_append
from risk.alerts import alert_raise
from trading.exceptions import ExchangeError, OrderNotFound, OrderRejected
from trading.exchanges.live import LiveExchange
from trading.models import OPEN_ORDER_STATUSES, Order, OrderStatus, StopLevel, TradingAccount
from trading.services.live_orders import order_adopt, order_apply_remote, order_is_flatten_exit
from trading.services.orders import order_transition

RECONCILER = Actor.system("reconciler")
DEFAULT_MAX_MISSES = 3


@dataclass
class ReconcileReport:
    account_id: int
    correlation_id: str
    checked: int = 0
    updated: list[str] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # open on the exchange of a stopped account
    errors: list[str] = field(default_factory=list)

    def as_payload(self) -> dict:
        return {
            "account": self.account_id,
            "checked": self.checked,
            "updated": self.updated,
            "missing": self.missing,
            "failed": self.failed,
            "adopted": self.adopted,
            "cancelled": self.cancelled,
            "errors": self.errors,
        }


def _order_missing(order_id: int, *, max_misses: int, actor: Actor, report: ReconcileReport) -> None:
    with transaction.atomic():
        # The lock keeps two reconcilers from counting the same pass twice.
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status not in OPEN_ORDER_STATUSES:
            return
        order.reconcile_misses += 1
        report.missing[order.idempotency_key] = order.reconcile_misses
        if order.reconcile_misses < max_misses:
            order.save(update_fields=["reconcile_misses", "updated_at"])
            return
        order.reject_reason = (
            f"not found on the exchange by client order id in {order.reconcile_misses} consecutive "
            "reconciliation passes"
        )
        status = OrderStatus.EXPIRED if order.status == OrderStatus.PARTIALLY_FILLED else OrderStatus.REJECTED
        order_transition(order=order, status=status, actor=actor, config_hash="", extra={"reason": order.reject_reason})
        report.failed.append(order.idempotency_key)


def _order_check(order: Order, exchange: LiveExchange, *, max_misses: int, actor: Actor, report) -> None:
    try:
        remote = exchange.fetch_order(symbol=order.symbol, client_order_id=order.idempotency_key)
    except OrderNotFound:
        _order_missing(order.pk, max_misses=max_misses, actor=actor, report=report)
        return
    trades = exchange.order_trades(symbol=order.symbol, order_id=remote.id) if remote.filled > 0 else []
    before = (order.status, order.filled_amount)
    after = order_apply_remote(order_id=order.pk, remote=remote, trades=trades, actor=actor, exchange=exchange)
    if (after.status, after.filled_amount) != before:
        report.updated.append(order.idempotency_key)


def reconcile_account(
    *, account_id: int, exchange: LiveExchange, max_misses: int = DEFAULT_MAX_MISSES, actor: Actor = RECONCILER
) -> ReconcileReport:
    """One reconciliation pass for an account; safe to repeat and to run after any restart.
    Returns what it found; the pass itself is audited."""
    account = TradingAccount.objects.get(pk=account_id)
    report = ReconcileReport(account_id=account_id, correlation_id=uuid.uuid4().hex)
    for order in Order.objects.filter(account=account, status__in=OPEN_ORDER_STATUSES).order_by("pk"):
        report.checked += 1
        try:
            _order_check(order, exchange, max_misses=max_misses, actor=actor, report=report)
        except ExchangeError as exc:  # unreachable or rate limited: not a miss, next pass
            report.errors.append(f"{order.idempotency_key}: {exc.code}")
    try:
        remote_open = exchange.open_orders()
    except ExchangeError as exc:
        report.errors.append(f"open orders: {exc.code}")
        remote_open = []
    known = set(
        Order.objects.filter(idempotency_key__in=[r.client_order_id for r in remote_open]).values_list(
            "idempotency_key", flat=True
        )
    )
    for remote in remote_open:
        if remote.client_order_id not in known:
            _adopt(account, remote, exchange, actor=actor, report=report)
    _stop_enforce(account, remote_open, exchange, actor=actor, report=report)
    with transaction.atomic():
        audit_append(
            actor=actor,
            action="reconcile.pass",
            obj=account,
            payload=report.as_payload(),
            correlation_id=report.correlation_id,
        )
    return report


def _adopt(account: TradingAccount, remote, exchange: LiveExchange, *, actor: Actor, report) -> None:
    order = order_adopt(account=account, remote=remote, actor=actor, correlation_id=report.correlation_id)
    if remote.filled > 0:
        trades = exchange.order_trades(symbol=remote.symbol, order_id=remote.id)
        order_apply_remote(order_id=order.pk, remote=remote, trades=trades, actor=actor, exchange=exchange)
    report.adopted.append(order.idempotency_key)
    alert_raise(
        account_id=account.pk,
        type="unknown_order",
        message=(
            f"order {remote.id} ({remote.side} {remote.amount} {remote.symbol}, client id "
            f"{remote.client_order_id or '-'}) was open on the exchange with no local record: adopted"
        ),
        details={"exchange_order_id": remote.id, "client_order_id": remote.client_order_id, "order": order.pk},
    )


def _stop_enforce(account: TradingAccount, remote_open, exchange: LiveExchange, *, actor: Actor, report) -> None:
    """Cancel on the exchange what a halted or flattened account has open there (a flatten's
    exits excepted), whatever the local row says, and apply each answer to the row if any."""
    level = TradingAccount.objects.values_list("stop_level", flat=True).get(pk=account.pk)
    if level not in (StopLevel.HALT, StopLevel.FLATTEN):
        return
    for remote in remote_open:
        if level == StopLevel.FLATTEN and order_is_flatten_exit(remote.client_order_id):
            continue
        try:
            answer = exchange.cancel_order(symbol=remote.symbol, client_order_id=remote.client_order_id)
            trades = exchange.order_trades(symbol=remote.symbol, order_id=answer.id) if answer.filled > 0 else []
        except (ExchangeError, OrderRejected) as exc:
            report.errors.append(f"cancel {remote.client_order_id}: {exc.code}")
            continue
        local = Order.objects.filter(account=account, exchange_order_id=remote.id).first()
        if local is not None:
            order_apply_remote(
                order_id=local.pk,
                remote=answer,
                trades=trades,
                actor=actor,
                reason=f"{level}: reconciliation cancels what a stopped account has open on the exchange",
                exchange=exchange,
            )
        report.cancelled.append(remote.client_order_id)
