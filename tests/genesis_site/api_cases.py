"""Every write action of the API, as a case: how to prepare it, the request, the permission it
needs and how to read its effect from the database. Shared by the permission matrix tests."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from genesis_site.models import Deployment, FailedTask
from risk.alerts import alert_raise
from risk.models import Alert, ConfigVersion, SymbolLock
from risk.policy import default_policy_yaml
from risk.selectors import config_version_active, policy_of
from tests.risk.factories import UNPACED, active_policy
from trading.models import Order, Position, Strategy, TradingAccount

POLICY = default_policy_yaml() + UNPACED


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@dataclass
class World:
    account: TradingAccount
    strategy: Strategy


def _halted(w: World) -> None:
    TradingAccount.objects.filter(pk=w.account.pk).update(stop_level="halt", stop_reason="test")


def _paused_strategy(w: World) -> None:
    Strategy.objects.filter(pk=w.strategy.pk).update(state="paused")


def _alert(w: World) -> dict:
    return {"alert": alert_raise(account_id=w.account.pk, type="breaker_trip", message="test").pk}


def _held_position(w: World) -> None:
    Position.objects.update_or_create(
        account=w.account,
        symbol="BTC/USDT",
        defaults={"quantity": Decimal("0.01"), "average_cost": Decimal("60000"), "mark_price": Decimal("61000")},
    )


def _replay_file(w: World) -> None:
    """A well-formed one-candle CSV in the replay directory (the test points it at a temp dir)."""
    root = Path(settings.GENESIS_REPLAY_DIR)
    root.mkdir(parents=True, exist_ok=True)
    (root / "btc.csv").write_text("timestamp,open,high,low,close,volume\n1700000000000,60000,60010,59990,60005,1\n")


def _replay_files(w: World) -> dict:
    w.account.refresh_from_db()
    return w.account.replay_files


def _lock(w: World) -> None:
    SymbolLock.objects.create(
        account=w.account, symbol="BTC/USDT", until=timezone.now() + timedelta(minutes=5), reason="t", created_by="t"
    )


def _inactive_version(w: World) -> dict:
    from risk.services import config_version_create
    from tests.risk.factories import TESTER

    version = config_version_create(account=w.account, content=POLICY, author=None, reason="spare", actor=TESTER)
    return {"version": version.pk}


def _two_versions(w: World) -> dict:
    first = config_version_active(account_id=w.account.pk)
    active_policy(w.account, content=POLICY + "max_open_positions: 4\n", reason="second")
    return {"version": first.version}


def _stop(w: World) -> str:
    w.account.refresh_from_db()
    return w.account.stop_level


def _dead_task(w: World) -> dict:
    failed = FailedTask.objects.create(
        task_name="genesis_site.heartbeat_record",
        fingerprint=f"permission-matrix-{w.account.pk}",
        exception="OperationalError: server closed the connection",
        error_class="django.db.utils.OperationalError",
        category="database",
        severity="critical",
        hint="check the database",
    )
    return {"failed_task": failed.pk}


def _failed_task_status(w: World) -> list[str]:
    return list(FailedTask.objects.values_list("status", flat=True))


def _strategy_state(w: World) -> str:
    w.strategy.refresh_from_db()
    return w.strategy.state


def _alert_status(w: World) -> str:
    return Alert.objects.get(account=w.account).status


def _position_qty(w: World) -> Decimal:
    return Position.objects.get(account=w.account, symbol="BTC/USDT").quantity


def _active_version(w: World) -> int:
    return config_version_active(account_id=w.account.pk).version


@dataclass
class Case:
    name: str
    action: str  # key of genesis_site.roles.ACTIONS
    method: str
    path: str
    body: dict
    observe: Any
    setup: Any = None
    status: int = 200
    account_scoped: bool = True  # False: a system-wide object, not limited to account members

    def run(self, client: APIClient, w: World) -> tuple[int, Any, Any]:
        extra = (self.setup(w) if self.setup else None) or {}
        before = self.observe(w)
        path = self.path.format(account=w.account.pk, strategy=w.strategy.pk, **extra)
        body = {k: (extra[v[1:-1]] if v in ("{version}", "{alert}") else v) for k, v in self.body.items()}
        body.setdefault("account", w.account.pk)
        response = getattr(client, self.method)(path, body, format="json")
        return response, before, self.observe(w)


REASON = {"reason": "permission matrix"}
CASES = [
    Case("pause entries", "pause_entries", "post", "/api/v1/stops/pause-entries", REASON, _stop),
    Case("halt", "halt", "post", "/api/v1/stops/halt", REASON, _stop),
    Case("flatten", "flatten", "post", "/api/v1/stops/flatten", REASON, _stop),
    Case("release", "release", "post", "/api/v1/stops/release", REASON, _stop, setup=_halted),
    Case("pause strategy", "pause_strategy", "post", "/api/v1/strategies/{strategy}/pause", REASON, _strategy_state),
    Case(
        "resume strategy",
        "pause_strategy",
        "post",
        "/api/v1/strategies/{strategy}/resume",
        REASON,
        _strategy_state,
        setup=_paused_strategy,
    ),
    Case(
        "force exit",
        "force_trade",
        "post",
        "/api/v1/manual/force-exit",
        {**REASON, "symbol": "BTC/USDT"},
        _position_qty,
        setup=_held_position,
        status=201,
    ),
    Case(
        "force entry",
        "force_trade",
        "post",
        "/api/v1/manual/force-entry",
        {**REASON, "symbol": "BTC/USDT", "amount": "0.01"},
        lambda w: Order.objects.filter(account=w.account, side="buy", status="filled").count(),
        setup=_held_position,
        status=201,
    ),
    Case(
        "acknowledge alert",
        "acknowledge_alert",
        "post",
        "/api/v1/alerts/{alert}/acknowledge",
        {"comment": "seen"},
        _alert_status,
        setup=_alert,
    ),
    Case(
        "resolve alert",
        "acknowledge_alert",
        "post",
        "/api/v1/alerts/{alert}/resolve",
        {"comment": "done"},
        _alert_status,
        setup=_alert,
    ),
    Case(
        "lock symbol",
        "pause_entries",
        "post",
        "/api/v1/symbol-locks",
        {**REASON, "symbol": "BTC/USDT", "minutes": 5},
        lambda w: SymbolLock.objects.filter(account=w.account).count(),
        status=201,
    ),
    Case(
        "release symbol lock",
        "release",
        "post",
        "/api/v1/symbol-locks/release",
        {**REASON, "symbol": "BTC/USDT"},
        lambda w: SymbolLock.objects.filter(account=w.account, until__gt=timezone.now()).count(),
        setup=_lock,
    ),
    Case(
        "create and activate config",
        "activate_config",
        "post",
        "/api/v1/config-versions",
        {**REASON, "content": POLICY + "max_open_positions: 4\n", "activate": True},
        _active_version,
        status=201,
    ),
    Case(
        "activate config",
        "activate_config",
        "post",
        "/api/v1/config-versions/{version}/activate",
        REASON,
        _active_version,
        setup=_inactive_version,
    ),
    Case(
        "rollback config",
        "rollback_config",
        "post",
        "/api/v1/config-versions/rollback",
        {**REASON, "version": "{version}"},
        _active_version,
        setup=_two_versions,
    ),
    Case(
        "set symbol lists",
        "activate_config",
        "put",
        "/api/v1/symbol-lists",
        {**REASON, "symbols_allow": [], "symbols_deny": ["SOL/USDT"]},
        lambda w: policy_of(config_version_active(account_id=w.account.pk)).symbols_deny,
    ),
    Case(
        "record deployment",
        "activate_config",
        "post",
        "/api/v1/deployments",
        {"version": "abc123", "reason": "release"},
        lambda w: Deployment.objects.filter(account=w.account).count(),
        status=201,
    ),
    Case(
        "replay market data",
        "change_mode",
        "post",
        "/api/v1/accounts/{account}/replay",
        {**REASON, "files": {"BTC/USDT": "btc.csv"}, "speed": "60"},
        _replay_files,
        setup=_replay_file,
    ),
    Case(
        "retry failed task",
        "handle_failed_task",
        "post",
        "/api/v1/failed-tasks/{failed_task}/retry",
        REASON,
        _failed_task_status,
        setup=_dead_task,
        account_scoped=False,
    ),
    Case(
        "discard failed task",
        "handle_failed_task",
        "post",
        "/api/v1/failed-tasks/{failed_task}/discard",
        REASON,
        _failed_task_status,
        setup=_dead_task,
        account_scoped=False,
    ),
]


def versions_of(account) -> int:
    return ConfigVersion.objects.filter(account=account).count()
