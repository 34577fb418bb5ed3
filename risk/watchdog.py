"""The dead man's switch and the engine-silent check (SPEC R6). They run in the web process
(a lifespan task), not in the worker they watch: a dead worker cannot report itself."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance.services import Actor
from genesis_site.models import Heartbeat
from risk.alerts import alert_raise
from risk.selectors import config_version_active
from risk.services.stops import live_orders_cancel
from trading.models import OPEN_ORDER_STATUSES, Order, OrderStatus, StopLevel, TradingAccount, TradingMode
from trading.services.orders import order_transition

logger = logging.getLogger(__name__)
WATCHDOG = Actor.system("dead_mans_switch")
HEARTBEAT_LOST_SECONDS = 60
SILENT_TICKS = 3


@dataclass
class WatchdogReport:
    worker_lost_seconds: float | None = None
    cancelled_orders: int = 0
    silent_accounts: list[int] = field(default_factory=list)


def _worker_silence(now: datetime) -> float | None:
    last = Heartbeat.objects.filter(name__startswith="worker:").order_by("-beat_at").values_list("beat_at", flat=True)
    latest = last.first()
    return None if latest is None else (now - latest).total_seconds()


def _cancel_open_orders(reason: str) -> int:
    """Every open order cancelled: a paper account's in the database under its row lock, a LIVE
    account's on the exchange by client order id (the halt's `live_orders_cancel`, outside any
    transaction, each row changed only on the exchange's answer)."""
    cancelled = 0
    for account_id in (
        Order.objects.filter(status__in=OPEN_ORDER_STATUSES).values_list("account_id", flat=True).distinct()
    ):
        if TradingAccount.objects.filter(pk=account_id, mode=TradingMode.LIVE).exists():
            count = live_orders_cancel(account_id=account_id, actor=WATCHDOG, reason=reason, keep_flatten_exits=False)
            cancelled += count
            alert_raise(
                account_id=account_id, type="engine_silent", message=reason, details={"cancelled_orders": count}
            )
            continue
        with transaction.atomic():
            TradingAccount.objects.select_for_update().get(pk=account_id)
            version = config_version_active(account_id=account_id)
            for order in Order.objects.select_for_update().filter(
                account_id=account_id, status__in=OPEN_ORDER_STATUSES
            ):
                order_transition(
                    order=order,
                    status=OrderStatus.CANCELLED,
                    actor=WATCHDOG,
                    config_hash=version.sha256 if version else "",
                    extra={"reason": reason},
                )
                cancelled += 1
            alert_raise(
                account_id=account_id, type="engine_silent", message=reason, details={"cancelled_orders": cancelled}
            )
    return cancelled


def watchdog_check(*, now: datetime | None = None) -> WatchdogReport:
    """Cancel every open order when no worker has beaten for more than 60 s, and name the
    trading accounts whose engine has not ticked for three intervals."""
    now = now or timezone.now()
    report = WatchdogReport(worker_lost_seconds=_worker_silence(now))
    if report.worker_lost_seconds is not None and report.worker_lost_seconds > HEARTBEAT_LOST_SECONDS:
        reason = f"dead man's switch: no worker heartbeat for {report.worker_lost_seconds:.0f} s"
        report.cancelled_orders = _cancel_open_orders(reason)
        if report.cancelled_orders:
            logger.error("dead man's switch cancelled open orders", extra={"cancelled": report.cancelled_orders})
    silent_before = now - timedelta(seconds=SILENT_TICKS * settings.GENESIS_TICK_SECONDS)
    report.silent_accounts = list(
        TradingAccount.objects.filter(
            mode__in=(TradingMode.PAPER, TradingMode.LIVE), stop_level=StopLevel.NONE, last_tick_at__lt=silent_before
        ).values_list("pk", flat=True)
    )
    for account_id in report.silent_accounts:
        logger.error("engine silent", extra={"account": account_id, "since": silent_before.isoformat()})
        alert_raise(
            account_id=account_id,
            type="engine_silent",
            message=f"no engine tick since {silent_before:%H:%M:%S} UTC ({SILENT_TICKS} intervals)",
            details={"tick_seconds": settings.GENESIS_TICK_SECONDS},
        )
    return report
