import difflib
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from risk.models import CircuitBreakerState, ConfigVersion, SymbolLock
from risk.policy import Breaker, RiskPolicy, policy_parse


def config_version_active(*, account_id: int) -> ConfigVersion | None:
    return ConfigVersion.objects.filter(account_id=account_id, is_active=True).first()


def policy_of(version: ConfigVersion | None) -> RiskPolicy:
    """The parsed policy of a version (cached by content); the schema defaults without one."""
    return policy_parse(version.content) if version else RiskPolicy()


def breakers_open(*, account_id: int, now: datetime | None = None, policy: RiskPolicy | None = None) -> list[str]:
    """Sources whose breaker is open and still inside its recovery timeout (`policy`: the
    account's active policy, when the caller has it already)."""
    now = now or timezone.now()
    policy = policy or policy_of(config_version_active(account_id=account_id))
    rows = CircuitBreakerState.objects.filter(account_id=account_id, state="open").values_list("source", "opened_at")
    return breakers_recovering(rows, now=now, policy=policy)


def breakers_recovering(rows: Iterable[tuple[str, datetime]], *, now: datetime, policy: RiskPolicy) -> list[str]:
    """Of open breakers' (source, opened_at), the sources still inside their recovery timeout,
    sorted."""
    configs = policy.circuit_breakers or {}
    return sorted(
        source
        for source, opened_at in rows
        if now - opened_at < timedelta(seconds=configs.get(source, Breaker()).recovery_seconds)
    )


def symbols_locked(*, account_id: int, now: datetime | None = None) -> frozenset[str]:
    """Symbols with a running entry lock."""
    now = now or timezone.now()
    return frozenset(SymbolLock.objects.filter(account_id=account_id, until__gt=now).values_list("symbol", flat=True))


def config_version_diff(older: ConfigVersion, newer: ConfigVersion) -> dict:
    """A readable difference: every policy value that changed (after defaults apply, so a
    key spelled out with its default value is no change), and the unified diff of the YAML."""
    a, b = policy_of(older).model_dump(), policy_of(newer).model_dump()
    changes = [
        {"key": key, "from": _plain(a.get(key)), "to": _plain(b.get(key))}
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]
    unified = "".join(
        difflib.unified_diff(
            older.content.splitlines(keepends=True),
            newer.content.splitlines(keepends=True),
            fromfile=f"v{older.version} ({older.sha256[:12]})",
            tofile=f"v{newer.version} ({newer.sha256[:12]})",
        )
    )
    return {"from_version": older.version, "to_version": newer.version, "changes": changes, "unified": unified}


def _plain(value):
    """Decimals as strings, nested models as dicts: JSON- and display-ready."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return str(value) if isinstance(value, Decimal) else value
