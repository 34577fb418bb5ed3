"""ChatOps (SPEC O3): a Slack-compatible slash command, `/genesis <command>`.

Requests are verified with Slack's v0 signing scheme (HMAC-SHA256 of `v0:timestamp:body` under
the signing secret, compared in constant time, timestamp within 5 minutes, each signature
accepted once). The Slack user is mapped to a Genesis user (genesis_site.models.SlackUser) and
each command needs the same permission as its API endpoint (genesis_site.roles.user_may), then
calls the same service. Answers are Slack message JSON; a refusal is an ephemeral message
(Slack shows any non-200 answer only as a generic failure)."""

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from compliance.auth_audit import client_ip
from compliance.services import Actor, audit_append
from genesis_site.api import ApiError, error_body
from genesis_site.models import SlackUser
from genesis_site.roles import user_may
from risk.alerts import AlertStateError, alert_acknowledge
from risk.exceptions import RiskError
from risk.models import Alert
from risk.services.stops import trading_flatten, trading_halt, trading_pause_entries, trading_release
from trading.exceptions import TradingError
from trading.models import TradingAccount
from trading.performance import profit_by_period
from trading.selectors import accounts_visible_to
from trading.serializers import account_state

SIGNATURE_WINDOW_SECONDS = 300


def signature_valid(*, secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None) -> bool:
    """Slack's v0 request signature: constant-time compare, timestamp within 5 minutes."""
    if not (secret and timestamp and signature):
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((now or time.time()) - sent) > SIGNATURE_WINDOW_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """The signature Slack would send (for tests and local tools)."""
    return "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


class Refused(Exception):
    """A command that cannot run; the message is shown to the Slack user."""


@dataclass
class Invocation:
    user: object
    slack_user: str
    args: list[str]
    account: TradingAccount | None

    @property
    def actor(self) -> Actor:
        return Actor.from_user(self.user)

    def reason(self, start: int) -> str:
        given = " ".join(self.args[start:]).strip()
        return given or f"ChatOps /genesis by Slack user {self.slack_user}"

    def need_account(self) -> TradingAccount:
        if self.account is None:
            raise Refused("Name the account: `/genesis <command> --account NAME` (you can see several or none).")
        return self.account


def reply(text: str, *, public: bool = False, fields: list[str] | None = None) -> JsonResponse:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if fields:
        blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[:10]]})
    return JsonResponse({"response_type": "in_channel" if public else "ephemeral", "text": text, "blocks": blocks})


def _status(inv: Invocation) -> JsonResponse:
    state = account_state(account=inv.need_account())
    config = state["config"]
    config_text = f"v{config['version']} {config['sha256'][:12]}" if config else "none"
    fields = [
        f"*Mode*\n{state['mode']}",
        f"*Stop level*\n{state['stop_level']}",
        f"*Equity*\n{state['equity']} {state['account']['quote_currency']}",
        f"*P&L today*\n{state['pnl']['today']} ({state['pnl']['today_pct']} %)",
        f"*Exposure*\n{state['exposure_pct']} %",
        f"*Open positions*\n{len(state['positions'])}",
        f"*Config*\n{config_text}",
        f"*Last tick*\n{state['last_tick_at'] or 'never'}",
    ]
    return reply(f"Status of *{state['account']['name']}*", fields=fields)


def _strategy_arg(inv: Invocation) -> str | None:
    if len(inv.args) >= 2 and inv.args[0] == "strategy":
        return inv.args[1]
    return None


def _pause(inv: Invocation) -> JsonResponse:
    account = inv.need_account()
    strategy = _strategy_arg(inv)
    if strategy:
        _allowed(inv, "pause_strategy")
        trading_pause_entries(account_id=account.pk, actor=inv.actor, reason=inv.reason(2), strategy=strategy)
        return reply(f"Strategy *{strategy}* on *{account.name}* paused: no new entries.", public=True)
    _allowed(inv, "pause_entries")
    trading_pause_entries(account_id=account.pk, actor=inv.actor, reason=inv.reason(0))
    return reply(f"Entries paused on *{account.name}*; exits and stops keep working.", public=True)


def _resume(inv: Invocation) -> JsonResponse:
    account = inv.need_account()
    strategy = _strategy_arg(inv)
    if strategy:
        _allowed(inv, "pause_strategy")
        trading_release(account_id=account.pk, actor=inv.actor, reason=inv.reason(2), strategy=strategy)
        return reply(f"Strategy *{strategy}* on *{account.name}* resumed.", public=True)
    _allowed(inv, "release")
    trading_release(account_id=account.pk, actor=inv.actor, reason=inv.reason(0))
    return reply(f"*{account.name}* released: trading normally.", public=True)


def _halt(inv: Invocation) -> JsonResponse:
    _allowed(inv, "halt")
    account = inv.need_account()
    result = trading_halt(account_id=account.pk, actor=inv.actor, reason=inv.reason(0))
    return reply(f":octagonal_sign: *{account.name}* HALTED; {result.orders_text()}.", public=True)


def _flatten(inv: Invocation) -> JsonResponse:
    _allowed(inv, "flatten")
    account = inv.need_account()
    result = trading_flatten(account_id=account.pk, actor=inv.actor, reason=inv.reason(0))
    text = f":octagonal_sign: *{account.name}* FLATTENED; {result.orders_text()}; {result.positions_text()}."
    return reply(text, public=True)


def _ack(inv: Invocation) -> JsonResponse:
    _allowed(inv, "acknowledge_alert")
    if not inv.args or not inv.args[0].isdigit():
        raise Refused("Usage: `/genesis ack ID [comment]` with the alert's number.")
    visible = accounts_visible_to(inv.user)
    alert = Alert.objects.filter(pk=int(inv.args[0]), account__in=visible).first()
    if alert is None:
        raise Refused(f"Alert {inv.args[0]} not found.")
    alert = alert_acknowledge(alert_id=alert.pk, user=inv.user, comment=" ".join(inv.args[1:]))
    return reply(f"Alert {alert.pk} ({alert.type}) acknowledged by {inv.user.get_username()}.", public=True)


def _profit(inv: Invocation) -> JsonResponse:
    period = inv.args[0] if inv.args else "daily"
    if period not in ("daily", "weekly", "monthly"):
        raise Refused("Usage: `/genesis profit daily|weekly|monthly`.")
    account = inv.need_account()
    rows = profit_by_period(account=account, period=period, periods=7)
    if not rows:
        return reply(f"No equity history on *{account.name}* yet.")
    lines = [f"{r['period_start']:%Y-%m-%d}: {r['profit']:+.2f} ({r['profit_pct']} %)" for r in rows]
    return reply(f"{period.capitalize()} profit of *{account.name}* ({account.quote_currency})", fields=lines)


def validation_services():
    """The validation framework's services (SPEC V1-V6) when this build has them, else None."""
    try:
        from validation import golive, services
    except ImportError:
        return None
    if not (hasattr(services, "validation_run_start") and hasattr(golive, "golive_decide")):
        return None
    return services, golive


UNAVAILABLE = "Validation runs and the go-live decision are not available yet in this Genesis build."


def _validation_call(inv: Invocation, permission: str, call):
    found = validation_services()
    if found is None:
        # Never fake a result: say the framework is missing.
        return reply(UNAVAILABLE)
    if not inv.user.has_perm(permission):
        raise Refused(f"Your role may not {permission.split('.')[1].replace('_', ' ')}.")
    try:
        return call(*found, inv.need_account())
    except Exception as exc:
        if type(exc).__module__.startswith("validation."):  # its domain errors name the problem
            raise Refused(str(exc)) from None
        raise


def _validate(inv: Invocation) -> JsonResponse:
    mode = inv.args[0] if inv.args else "quick"

    def start(services, golive, account):
        run = services.validation_run_start(
            mode=mode, actor=inv.actor, trigger="chatops", user=inv.user, account_id=account.pk
        )
        return reply(f"Validation run #{run.pk} ({mode}) started on *{account.name}*.", public=True)

    return _validation_call(inv, "validation.start_validation", start)


def _golive(inv: Invocation) -> JsonResponse:
    def decide(services, golive, account):
        decision = golive.golive_decide(account_id=account.pk, actor=inv.actor)
        issues = decision.blocking_issues[:5] or ["none"]
        return reply(
            f"Go-live for *{account.name}*: *{decision.decision}* (score {decision.score:.0f})",
            public=True,
            fields=[f"*Blocking*\n{i}" for i in issues] + [f"*Recommendation*\n{decision.recommendation[:500]}"],
        )

    return _validation_call(inv, "validation.decide_golive", decide)


COMMANDS: dict[str, Callable[[Invocation], JsonResponse]] = {
    "status": _status,
    "pause": _pause,
    "resume": _resume,
    "halt": _halt,
    "flatten": _flatten,
    "ack": _ack,
    "profit": _profit,
    "validate": _validate,
    "golive": _golive,
}
USAGE = "Usage: `/genesis status|pause|resume|halt|flatten|ack ID|profit daily|validate quick|golive [--account NAME]`"


def _allowed(inv: Invocation, action: str) -> None:
    if not user_may(inv.user, action):
        raise Refused(f"Your role may not {action.replace('_', ' ')}.")


def _split_account(user, words: list[str]) -> tuple[TradingAccount | None, list[str]]:
    visible = accounts_visible_to(user)
    if "--account" in words:
        i = words.index("--account")
        name = words[i + 1] if i + 1 < len(words) else ""
        account = visible.filter(name=name).first()
        if account is None:
            raise Refused(f"Account {name!r} not found.")
        return account, words[:i] + words[i + 2 :]
    accounts = list(visible.order_by("pk")[:2])
    return (accounts[0] if len(accounts) == 1 else None), words


def _audit_refused_signature(request, reason: str) -> None:
    with transaction.atomic():
        audit_append(
            actor=Actor("bot", "slack"),
            action="auth.chatops_refused",
            payload={"ip": client_ip(request), "why": reason},
        )


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


SlackForm = inline_serializer(
    "SlackCommandForm",
    {
        "command": serializers.CharField(help_text="The slash command, /genesis."),
        "text": serializers.CharField(
            allow_blank=True,
            help_text="status | pause [strategy NAME] [reason] | resume [strategy NAME] [reason] | halt [reason] | "
            "flatten [reason] | ack ID [comment] | profit daily|weekly|monthly | validate quick | golive; "
            "optionally --account NAME.",
        ),
        "user_id": serializers.CharField(help_text="Slack user id, mapped to a Genesis user (SlackUser)."),
        "team_id": serializers.CharField(required=False),
    },
)
SlackMessage = inline_serializer(
    "SlackMessage",
    {
        "response_type": serializers.ChoiceField(choices=["ephemeral", "in_channel"]),
        "text": serializers.CharField(),
        "blocks": serializers.ListField(child=serializers.DictField()),
    },
)


class SlackCommandView(APIView):
    """Authenticated by the request signature, not a session or token; so no CSRF, no DRF
    authentication, and no throttle (a bad signature is refused and audited)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    parser_classes = [FormParser]

    @extend_schema(
        summary="Slack-compatible slash command /genesis (signed with Slack's v0 scheme).",
        description="Each command needs the same role permission as its API endpoint. Refusals are ephemeral "
        "Slack messages with status 200, as Slack expects.",
        auth=[],
        parameters=[
            OpenApiParameter("X-Slack-Signature", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-Slack-Request-Timestamp", str, OpenApiParameter.HEADER, required=True),
        ],
        request={"application/x-www-form-urlencoded": SlackForm},
        responses={
            200: SlackMessage,
            401: OpenApiResponse(ApiError, description="Missing, invalid, stale or replayed signature."),
            503: OpenApiResponse(ApiError, description="ChatOps is not configured."),
        },
    )
    def post(self, request):
        return slack_command(request._request)


def slack_command(request):
    secret = getattr(settings, "GENESIS_SLACK_SIGNING_SECRET", "")
    if not secret:
        return _error(503, "chatops_disabled", "ChatOps is not configured (GENESIS_SLACK_SIGNING_SECRET).")
    body = request.body
    signature = request.headers.get("X-Slack-Signature", "")
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    if not signature_valid(secret=secret, timestamp=timestamp, body=body, signature=signature):
        _audit_refused_signature(request, "bad, missing or stale signature")
        return _error(401, "bad_signature", "Missing, invalid or stale request signature.")
    # Each signed request is accepted once within the window: a captured one cannot be replayed.
    if not cache.add(f"chatops-sig:{signature}", 1, SIGNATURE_WINDOW_SECONDS * 2):
        _audit_refused_signature(request, "replayed signature")
        return _error(401, "replayed", "This signed request was already used.")
    form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
    return _dispatch(form)


def _dispatch(form: dict) -> JsonResponse:
    slack_user = form.get("user_id", "")
    mapping = SlackUser.objects.select_related("user").filter(slack_user_id=slack_user).first()
    if mapping is None or (mapping.slack_team_id and mapping.slack_team_id != form.get("team_id")):
        return reply(f"Slack user {slack_user or '?'} is not linked to a Genesis user; ask an admin.")
    user = mapping.user
    if not user.is_active:
        return reply("Your Genesis user is inactive.")
    words = form.get("text", "").split()
    if not words or words[0] not in COMMANDS:
        return reply(USAGE)
    try:
        account, rest = _split_account(user, words[1:])
        return COMMANDS[words[0]](Invocation(user=user, slack_user=slack_user, args=rest, account=account))
    except Refused as exc:
        return reply(f":no_entry: {exc}")
    except (TradingError, RiskError, AlertStateError) as exc:
        return reply(f":no_entry: Refused: {exc}")
