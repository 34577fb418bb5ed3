from celery import shared_task
from celery.exceptions import Retry
from django.conf import settings

from compliance.services import Actor
from risk.alerts import alert_delivery_send, alerts_escalate
from risk.models import AlertDeliveryStatus
from risk.services.reports import risk_report_compute
from risk.services.stops import stop_enforce_live
from trading.models import TradingAccount

ALERT_DELIVERY_MAX_RETRIES = 5  # six attempts over about a minute with the default base delay
ALERT_DELIVERY_MAX_DELAY = 300.0


def alert_delivery_backoff(retries: int) -> float:
    """Seconds before the next attempt: base * 2^retries, capped. The base comes from
    GENESIS_ALERT_RETRY_BASE_SECONDS (default 2 s) so tests can keep it small."""
    base = float(getattr(settings, "GENESIS_ALERT_RETRY_BASE_SECONDS", 2.0))
    return min(base * 2**retries, ALERT_DELIVERY_MAX_DELAY)


@shared_task(name="risk.alert_deliver", bind=True, ignore_result=True, max_retries=ALERT_DELIVERY_MAX_RETRIES)
def alert_deliver_task(self, delivery_id: int) -> Retry | None:
    """Send one alert delivery, retrying with exponential backoff; the AlertDelivery row
    records every attempt and ends sent or failed. Idempotent: a sent row is not resent."""
    final = self.request.retries >= self.max_retries
    if alert_delivery_send(delivery_id=delivery_id, final=final) != AlertDeliveryStatus.PENDING:
        return None
    countdown = alert_delivery_backoff(self.request.retries)
    if self.request.is_eager:
        # Eager mode (embedded, tests) propagates a raised Retry as an error; a returned one
        # is applied again at once (without the countdown).
        return self.retry(countdown=countdown, throw=False)
    raise self.retry(countdown=countdown)


@shared_task(name="risk.alerts_escalate", ignore_result=True)
def alerts_escalate_task() -> None:
    """Escalate alerts left unacknowledged for two minutes (the beat entry)."""
    alerts_escalate()


@shared_task(name="risk.risk_reports_compute", ignore_result=True)
def risk_reports_compute_task() -> None:
    """The scheduled risk report of every account (SPEC R9)."""
    for account_id in TradingAccount.objects.values_list("pk", flat=True):
        risk_report_compute(account_id=account_id, trigger="schedule")


@shared_task(name="risk.stop_enforce_live", ignore_result=True)
def stop_enforce_live_task(
    account_id: int, actor_type: str, actor_name: str, reason: str, exit_order_ids: list[int], config_hash: str
) -> None:
    """A committed LIVE halt's or flatten's work on the exchange: cancel every open order, then
    send a flatten's exits (`stop_enforce_live`). Safe to deliver twice (late acks redeliver
    it when a worker dies): what is settled is neither cancelled nor sent again. Its own
    failures are alerted and left to the next tick and reconciliation, which cancel again."""
    stop_enforce_live(
        account_id=account_id,
        actor=Actor(actor_type, actor_name),
        reason=reason,
        exit_order_ids=exit_order_ids,
        config_hash=config_hash,
    )
