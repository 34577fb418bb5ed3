"""Alert channels (SPEC R8): payloads for Slack-compatible incoming webhooks and for the
PagerDuty Events API v2, and one sender that POSTs them.

Builders are pure functions of the alert, so their shapes are tested without a network. The
channel's URL and routing key are decrypted only here, at send time, and never appear in an
exception message (a Slack webhook URL is itself the secret)."""

import requests

from genesis_site.secrets import SecretDecryptError, decrypt
from risk.models import Alert, AlertChannel, AlertChannelKind, AlertDeliveryEvent

SEND_TIMEOUT = (3.05, 10)  # connect, read (seconds)
# A 4xx means the request itself is wrong (bad routing key, revoked webhook): retrying the
# same body cannot succeed, except for a timeout or rate limiting.
RETRYABLE_4XX = {408, 429}
_SUMMARY_MAX = 1024  # PagerDuty truncates summaries longer than this


class ChannelSendError(Exception):
    def __init__(self, message: str, *, retryable: bool = True):
        self.retryable = retryable
        super().__init__(message)


def _headline(alert: Alert, event: str) -> str:
    where = f"account {alert.account.name}"
    if event == AlertDeliveryEvent.ACKNOWLEDGE:
        who = alert.acknowledged_by.get_username() if alert.acknowledged_by else "?"
        return f"Acknowledged by {who}: {alert.type} on {where}"
    if event == AlertDeliveryEvent.RESOLVE:
        return f"Resolved by {alert.resolved_by}: {alert.type} on {where}"
    escalated = " (escalated: unacknowledged)" if alert.escalated_at else ""
    return f"[{alert.severity.upper()}] {alert.type} on {where}{escalated}: {alert.message}"


def slack_payload(alert: Alert, event: str, *, runbook_url: str) -> dict:
    """A Slack incoming-webhook body: `text` for notifications and plain clients, `blocks`
    for the formatted message."""
    text = _headline(alert, event)
    comment = {
        AlertDeliveryEvent.ACKNOWLEDGE: alert.acknowledge_comment,
        AlertDeliveryEvent.RESOLVE: alert.resolve_comment,
    }.get(event, "")
    context = f"<{runbook_url}|Runbook> | alert #{alert.pk} | seen {alert.count}x since {alert.first_seen:%H:%M:%S} UTC"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text + (f"\n> {comment}" if comment else "")}}]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": text, "blocks": blocks}


def pagerduty_payload(alert: Alert, event: str, *, routing_key: str, runbook_url: str) -> dict:
    """A PagerDuty Events API v2 body. The alert's dedup key ties trigger, acknowledge and
    resolve to one incident; `payload` is only read on trigger, so only trigger carries it."""
    body = {"routing_key": routing_key, "event_action": event, "dedup_key": alert.dedup_key}
    if event != AlertDeliveryEvent.TRIGGER:
        return body
    body["payload"] = {
        "summary": _headline(alert, event)[:_SUMMARY_MAX],
        "severity": alert.severity,  # info/warning/critical are all valid PagerDuty severities
        "source": f"genesis/{alert.account.name}",
        "component": alert.type,
        "custom_details": {
            "alert_id": alert.pk,
            "account": alert.account.name,
            "count": alert.count,
            "first_seen": alert.first_seen.isoformat(),
            "last_seen": alert.last_seen.isoformat(),
            "escalated": alert.escalated_at is not None,
            "details": alert.details,
        },
    }
    body["links"] = [{"href": runbook_url, "text": f"Runbook: {alert.type}"}]
    return body


def channel_payload(channel: AlertChannel, alert: Alert, event: str, *, runbook_url: str) -> tuple[str, dict]:
    """The URL to POST to and the body, with the channel's secrets decrypted."""
    try:
        url = decrypt(channel.url_encrypted)
        if channel.kind == AlertChannelKind.PAGERDUTY:
            key = decrypt(channel.routing_key_encrypted)
            return url, pagerduty_payload(alert, event, routing_key=key, runbook_url=runbook_url)
    except SecretDecryptError as exc:
        raise ChannelSendError(f"channel {channel.name}: {exc}", retryable=False) from None
    return url, slack_payload(alert, event, runbook_url=runbook_url)


def json_post(url: str, body: dict) -> None:
    """POST `body` as JSON; raises ChannelSendError (without the URL) unless the answer is 2xx."""
    try:
        response = requests.post(url, json=body, timeout=SEND_TIMEOUT)
    except requests.RequestException as exc:
        # str(exc) embeds the URL; the class name is enough to act on.
        raise ChannelSendError(f"{type(exc).__name__} while posting") from None
    if not 200 <= response.status_code < 300:
        retryable = response.status_code >= 500 or response.status_code in RETRYABLE_4XX
        raise ChannelSendError(f"HTTP {response.status_code}: {response.text[:200]}", retryable=retryable)
