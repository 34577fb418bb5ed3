"""Alerts (SPEC R8): raise with deduplication, acknowledge, resolve, escalate, deliver.

Deliveries use a transactional outbox: the AlertDelivery rows are written in the transaction
of the alert change and the risk.alert_deliver task is queued on commit, so a rolled-back
change sends nothing and a committed one is never lost between the database and the broker
(pending rows remain visible and can be re-queued). Dashboards get the change on commit."""

from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from compliance.services import Actor, audit_append
from genesis_site.domain_errors import Conflict
from genesis_site.secrets import encrypt
from risk.channels import ChannelSendError, channel_payload, json_post
from risk.exceptions import RiskError
from risk.models import (
    SEVERITY_RANK,
    Alert,
    AlertChannel,
    AlertChannelKind,
    AlertDelivery,
    AlertDeliveryEvent,
    AlertDeliveryStatus,
    AlertSeverity,
    AlertStatus,
    AlertType,
)
from risk.selectors import config_version_active
from trading.live import account_event_publish
from trading.models import TradingAccount

DEDUP_WINDOW = timedelta(seconds=60)
ESCALATE_AFTER = timedelta(minutes=2)
RUNBOOK_DIR = Path(settings.BASE_DIR) / "deploy" / "runbooks"

# Default severity and runbook file for every alert type.
ALERT_TYPES: dict[str, tuple[str, str]] = {
    AlertType.KILL_SWITCH: (AlertSeverity.CRITICAL, "kill-switch.md"),
    AlertType.DAILY_STOP: (AlertSeverity.WARNING, "daily-stop.md"),
    AlertType.WEEKLY_STOP: (AlertSeverity.WARNING, "weekly-stop.md"),
    AlertType.MAX_DRAWDOWN: (AlertSeverity.CRITICAL, "drawdown-limit.md"),
    AlertType.LATENCY_VIOLATION: (AlertSeverity.WARNING, "tick-latency-high.md"),
    AlertType.API_ERROR_BURST: (AlertSeverity.WARNING, "api-error-burst.md"),
    AlertType.ORDER_REJECTION_BURST: (AlertSeverity.WARNING, "order-rejection-burst.md"),
    AlertType.EMPTY_UNIVERSE: (AlertSeverity.WARNING, "empty-universe.md"),
    AlertType.EXCEPTION_BURST: (AlertSeverity.CRITICAL, "exception-burst.md"),
    AlertType.BREAKER_TRIP: (AlertSeverity.WARNING, "breaker-trip.md"),
    AlertType.VALIDATION_FAILED: (AlertSeverity.WARNING, "validation-failed.md"),
    AlertType.ENGINE_SILENT: (AlertSeverity.CRITICAL, "engine-silent.md"),
    AlertType.BAD_TICK: (AlertSeverity.WARNING, "bad-tick.md"),
    AlertType.OPERATOR_TILT: (AlertSeverity.WARNING, "operator-tilt.md"),
    AlertType.UNKNOWN_ORDER: (AlertSeverity.WARNING, "unknown-exchange-order.md"),
    AlertType.FEE_UNPRICED: (AlertSeverity.WARNING, "fee-unpriced.md"),
}


class AlertInvalid(RiskError):
    code = "alert_invalid"


class AlertStateError(RiskError, Conflict):
    """An acknowledge or resolve that does not fit the alert's current state (409)."""

    code = "alert_state"


# --- runbooks and read helpers -------------------------------------------------------------


def runbook_path(alert_type: str) -> Path:
    """The runbook file on disk for `alert_type`."""
    return RUNBOOK_DIR / ALERT_TYPES[alert_type][1]


def runbook_url(alert_type: str) -> str:
    """Where operators read the runbook: GENESIS_RUNBOOK_BASE_URL (e.g. the repository's web
    view of deploy/runbooks) when set, else the path inside the repository."""
    base = getattr(settings, "GENESIS_RUNBOOK_BASE_URL", "") or "deploy/runbooks"
    return f"{base.rstrip('/')}/{ALERT_TYPES[alert_type][1]}"


def alerts_open(*, account_id: int):
    """Unresolved alerts of one account, newest first."""
    return Alert.objects.filter(account_id=account_id).exclude(status=AlertStatus.RESOLVED).order_by("-last_seen")


def alert_as_dict(alert: Alert) -> dict:
    """The alert as the dashboard and API show it."""
    return {
        "id": alert.pk,
        "account": alert.account_id,
        "type": alert.type,
        "severity": alert.severity,
        "status": alert.status,
        "message": alert.message,
        "details": alert.details,
        "count": alert.count,
        "first_seen": alert.first_seen.isoformat(),
        "last_seen": alert.last_seen.isoformat(),
        "escalated_at": alert.escalated_at.isoformat() if alert.escalated_at else None,
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "resolved_by": alert.resolved_by or None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "runbook": runbook_url(alert.type),
    }


# --- outbox, dashboard, audit ----------------------------------------------------------------


def _outbox_write(alert: Alert, event: str, channels) -> None:
    from risk.tasks import alert_deliver_task  # tasks import this module

    for channel in channels:
        delivery = AlertDelivery.objects.create(alert=alert, channel=channel, event=event)
        # robust: a broker hiccup after commit must not fail the caller; the row stays pending.
        # A closure, not functools.partial: Django logs a robust callback's __qualname__.
        transaction.on_commit(lambda pk=delivery.pk: alert_deliver_task.delay(pk), robust=True)


def _channels_for(alert: Alert):
    channels = AlertChannel.objects.filter(Q(account=None) | Q(account_id=alert.account_id), enabled=True)
    rank = SEVERITY_RANK[alert.severity]
    return [c for c in channels if SEVERITY_RANK[c.min_severity] <= rank]


def _channels_triggered(alert: Alert):
    """Channels that were told about the alert: only they hear of its acknowledge/resolve."""
    return AlertChannel.objects.filter(
        enabled=True, deliveries__alert=alert, deliveries__event=AlertDeliveryEvent.TRIGGER
    ).distinct()


def _publish(alert: Alert, change: str) -> None:
    event = {"type": "alert", "change": change, "alert": alert_as_dict(alert)}
    transaction.on_commit(partial(account_event_publish, account_id=alert.account_id, event=event))


def _audit(alert: Alert, actor: Actor, action: str, **payload) -> None:
    version = config_version_active(account_id=alert.account_id)
    audit_append(
        actor=actor,
        action=action,
        obj=alert,
        payload={"account": alert.account_id, "alert": alert.pk, "type": alert.type, **payload},
        config_hash=version.sha256 if version else "",
    )


# --- services ----------------------------------------------------------------------------------


def alert_raise(
    *,
    account_id: int,
    type: str,
    message: str,
    details: dict | None = None,
    severity: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """Raise an alert. Within DEDUP_WINDOW of the last sighting of an unresolved alert of the
    same type on the account, that alert's count and last_seen are bumped instead (no new
    delivery). A new alert is delivered to the account's channels and dashboards on commit."""
    if type not in ALERT_TYPES:
        raise AlertInvalid(f"type: unknown alert type {type!r}; known: {', '.join(ALERT_TYPES)}")
    if severity is not None and severity not in SEVERITY_RANK:
        raise AlertInvalid(f"severity: {severity!r} is not one of {', '.join(AlertSeverity.values)}")
    now = now or timezone.now()
    with transaction.atomic():
        # The account row lock (also taken by the engine tick) serializes raisers, so two
        # concurrent first sightings cannot both miss the window and create two alerts.
        TradingAccount.objects.select_for_update().only("pk").get(pk=account_id)
        recent = (
            Alert.objects.filter(account_id=account_id, type=type, last_seen__gte=now - DEDUP_WINDOW)
            .exclude(status=AlertStatus.RESOLVED)
            .order_by("-last_seen")
            .first()
        )
        if recent is not None:
            Alert.objects.filter(pk=recent.pk).update(count=F("count") + 1, last_seen=now)
            recent.refresh_from_db()
            return recent
        alert = Alert.objects.create(
            account_id=account_id,
            type=type,
            severity=severity or ALERT_TYPES[type][0],
            message=message,
            details=details or {},
            first_seen=now,
            last_seen=now,
        )
        _outbox_write(alert, AlertDeliveryEvent.TRIGGER, _channels_for(alert))
        _publish(alert, "raised")
    return alert


def alert_acknowledge(*, alert_id: int, user, comment: str = "") -> Alert:
    """Record who acknowledged an open alert, when and why; stops its escalation. Audited,
    and sent to the channels that were told about the alert."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("account").get(pk=alert_id)
        if alert.status != AlertStatus.OPEN:
            raise AlertStateError(f"alert {alert.pk} is {alert.status}; only an open alert can be acknowledged")
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_by, alert.acknowledged_at, alert.acknowledge_comment = user, timezone.now(), comment
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "acknowledge_comment"])
        _audit(alert, Actor.from_user(user), "alert.acknowledge", comment=comment)
        _outbox_write(alert, AlertDeliveryEvent.ACKNOWLEDGE, _channels_triggered(alert))
        _publish(alert, "acknowledged")
    return alert


def alert_resolve(*, alert_id: int, comment: str = "", user=None, actor: Actor | None = None) -> Alert:
    """Close an alert (acknowledged or not) by a user or a system actor. Audited, and sent to
    the channels that were told about it. A later sighting raises a new alert."""
    if (user is None) == (actor is None):
        raise AlertInvalid("resolve needs exactly one of user or actor")
    actor = actor or Actor.from_user(user)
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("account").get(pk=alert_id)
        if alert.status == AlertStatus.RESOLVED:
            raise AlertStateError(f"alert {alert.pk} was already resolved by {alert.resolved_by}")
        alert.status = AlertStatus.RESOLVED
        alert.resolved_by, alert.resolved_at, alert.resolve_comment = actor.name, timezone.now(), comment
        alert.save(update_fields=["status", "resolved_by", "resolved_at", "resolve_comment"])
        _audit(alert, actor, "alert.resolve", comment=comment)
        _outbox_write(alert, AlertDeliveryEvent.RESOLVE, _channels_triggered(alert))
        _publish(alert, "resolved")
    return alert


def alerts_escalate(*, now: datetime | None = None) -> int:
    """Escalate, once, every alert still open (unacknowledged) ESCALATE_AFTER its first
    sighting: severity becomes critical, the change is audited, and the alert is delivered
    again (to every channel, critical passing any threshold). Returns how many escalated."""
    now = now or timezone.now()
    due = Alert.objects.filter(status=AlertStatus.OPEN, escalated_at=None, first_seen__lte=now - ESCALATE_AFTER)
    escalated = 0
    for alert_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            # Conditional update: an acknowledge or a concurrent escalation run that got there
            # first leaves nothing to update, and this run skips the alert.
            claimed = Alert.objects.filter(pk=alert_id, status=AlertStatus.OPEN, escalated_at=None).update(
                escalated_at=now, severity=AlertSeverity.CRITICAL
            )
            if not claimed:
                continue
            alert = Alert.objects.select_related("account").get(pk=alert_id)
            _audit(alert, Actor.system("alerts"), "alert.escalate", unacknowledged_since=alert.first_seen)
            _outbox_write(alert, AlertDeliveryEvent.TRIGGER, _channels_for(alert))
            _publish(alert, "escalated")
            escalated += 1
    return escalated


def alert_channel_create(
    *,
    kind: str,
    name: str,
    url: str,
    actor: Actor,
    routing_key: str = "",
    account_id: int | None = None,
    min_severity: str = AlertSeverity.INFO,
) -> AlertChannel:
    """Configure a channel; the URL and routing key are stored only encrypted. Audited
    without the secrets."""
    if kind not in AlertChannelKind.values:
        raise AlertInvalid(f"kind: {kind!r} is not one of {', '.join(AlertChannelKind.values)}")
    if not url.startswith(("https://", "http://")):
        raise AlertInvalid("url: a channel URL must start with https:// or http://")
    if kind == AlertChannelKind.PAGERDUTY and not routing_key:
        raise AlertInvalid("routing_key: a PagerDuty channel needs the integration's routing key")
    with transaction.atomic():
        channel = AlertChannel.objects.create(
            kind=kind,
            name=name,
            url_encrypted=encrypt(url),
            routing_key_encrypted=encrypt(routing_key) if routing_key else "",
            account_id=account_id,
            min_severity=min_severity,
        )
        audit_append(
            actor=actor,
            action="alert_channel.create",
            obj=channel,
            payload={"kind": kind, "name": name, "account": account_id, "min_severity": min_severity},
        )
    return channel


def alert_delivery_send(*, delivery_id: int, final: bool) -> str:
    """Send one outbox row and record the attempt. Returns the row's status afterwards:
    `sent`, `failed` (final attempt, or an error no retry can fix), or `pending` (retry).
    A row already sent is not sent again."""
    delivery = AlertDelivery.objects.select_related("alert__account", "alert__acknowledged_by", "channel").get(
        pk=delivery_id
    )
    if delivery.status != AlertDeliveryStatus.PENDING:
        return delivery.status
    # Every read of a channel's secrets is audited (SPEC S2), without the values.
    with transaction.atomic():
        audit_append(
            actor=Actor.system("alert_delivery"),
            action="secret.accessed",
            obj=delivery.channel,
            payload={"kind": "alert_channel", "purpose": f"deliver alert {delivery.alert_id} ({delivery.event})"},
        )
    # No transaction is held across the HTTP call: a slow endpoint must not hold row locks.
    try:
        url, body = channel_payload(
            delivery.channel, delivery.alert, delivery.event, runbook_url=runbook_url(delivery.alert.type)
        )
        json_post(url, body)
    except ChannelSendError as exc:
        status = AlertDeliveryStatus.FAILED if final or not exc.retryable else AlertDeliveryStatus.PENDING
        AlertDelivery.objects.filter(pk=delivery_id).update(
            attempts=F("attempts") + 1, last_error=str(exc)[:500], status=status
        )
        return status
    AlertDelivery.objects.filter(pk=delivery_id).update(
        attempts=F("attempts") + 1, status=AlertDeliveryStatus.SENT, sent_at=timezone.now(), last_error=""
    )
    return AlertDeliveryStatus.SENT
