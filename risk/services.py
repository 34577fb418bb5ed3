import hashlib
from dataclasses import asdict
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from compliance.services import Actor, audit_append
from risk import breakers as cb
from risk import metrics
from risk.exceptions import ConfigInvalid
from risk.models import CircuitBreakerState, ConfigVersion
from risk.policy import BREAKER_SOURCES, Breaker, policy_check
from risk.selectors import config_version_active, policy_of


def config_version_create(*, account, content: str, author, reason: str, actor: Actor) -> ConfigVersion:
    """Validate and store a new immutable version (not yet active), with its warnings.
    Raises ConfigInvalid listing every problem; nothing is stored then."""
    check = policy_check(content)
    errors = check.errors + ([] if reason.strip() else ["reason: a reason is required for every configuration version"])
    if errors:
        raise ConfigInvalid(errors)
    digest = hashlib.sha256(content.encode()).hexdigest()
    with transaction.atomic():
        # Lock the account row: two concurrent creates must not both take the same number.
        type(account).objects.select_for_update().get(pk=account.pk)
        last = ConfigVersion.objects.filter(account=account).aggregate(n=Max("version"))["n"] or 0
        active = ConfigVersion.objects.filter(account=account, is_active=True).first()
        version = ConfigVersion.objects.create(
            account=account,
            version=last + 1,
            content=content,
            sha256=digest,
            author=author,
            reason=reason,
            parent=active,
            warnings=check.warnings,
        )
        audit_append(
            actor=actor,
            action="config.created",
            obj=version,
            payload={"account": account.pk, "version": version.version, "sha256": digest, "reason": reason},
            config_hash=active.sha256 if active else "",
        )
    return version


def config_version_activate(
    *, version: ConfigVersion, actor: Actor, reason: str, action: str = "config.activated"
) -> ConfigVersion:
    """Make `version` the account's only active version, audited. Rollback is this service
    applied to an earlier version, with action "config.rolled_back"."""
    with transaction.atomic():
        type(version.account).objects.select_for_update().get(pk=version.account_id)
        previous = ConfigVersion.objects.filter(account_id=version.account_id, is_active=True).first()
        ConfigVersion.objects.filter(account_id=version.account_id, is_active=True).update(is_active=False)
        ConfigVersion.objects.filter(pk=version.pk).update(is_active=True)
        version.is_active = True
        audit_append(
            actor=actor,
            action=action,
            obj=version,
            payload={
                "account": version.account_id,
                "version": version.version,
                "reason": reason,
                "previous_version": previous.version if previous else None,
            },
            config_hash=version.sha256,
        )
    return version


def _breaker_config(account_id: int, source: str) -> Breaker:
    breakers = policy_of(config_version_active(account_id=account_id)).circuit_breakers or {}
    return breakers.get(source, Breaker())


def _breaker_locked(account_id: int, source: str) -> CircuitBreakerState:
    if source not in BREAKER_SOURCES:
        raise ValueError(f"unknown breaker source {source!r}; known: {', '.join(BREAKER_SOURCES)}")
    CircuitBreakerState.objects.bulk_create(
        [CircuitBreakerState(account_id=account_id, source=source)], ignore_conflicts=True
    )
    return CircuitBreakerState.objects.select_for_update().get(account_id=account_id, source=source)


def _breaker_save(row: CircuitBreakerState, state: cb.BreakerState) -> None:
    for name, value in asdict(state).items():
        setattr(row, name, value)
    row.save()
    metrics.breaker_state.labels(account=str(row.account_id), source=row.source).set(cb.STATE_VALUE[row.state])


def breaker_record(*, account_id: int, source: str, ok: bool, now: datetime | None = None) -> str:
    """Record one outcome of calls guarded by the breaker; returns its state. A trip is
    audited and counted. The row lock serializes workers reporting at the same time."""
    now, cfg = now or timezone.now(), _breaker_config(account_id, source)
    with transaction.atomic():
        row = _breaker_locked(account_id, source)
        current = cb.BreakerState(row.state, row.failures, row.opened_at, row.probes_in_flight, row.probe_successes)
        tripped = False
        if ok:
            state = cb.breaker_success(current, cfg, now)
        else:
            state, tripped = cb.breaker_failure(current, cfg, now)
        if tripped:
            row.trips += 1
            metrics.breaker_trips_total.labels(account=str(account_id), source=source).inc()
            audit_append(
                actor=Actor.system("breakers"),
                action="breaker.opened",
                obj=row,
                payload={
                    "account": account_id,
                    "source": source,
                    "after": current.state,
                    "recovery_seconds": cfg.recovery_seconds,
                },
            )
        _breaker_save(row, state)
    return state.state


def breaker_allow(*, account_id: int, source: str, now: datetime | None = None) -> bool:
    """Whether a guarded call may go now; in half-open this takes one probe slot."""
    now, cfg = now or timezone.now(), _breaker_config(account_id, source)
    with transaction.atomic():
        row = _breaker_locked(account_id, source)
        current = cb.BreakerState(row.state, row.failures, row.opened_at, row.probes_in_flight, row.probe_successes)
        allowed, state = cb.breaker_allow(current, cfg, now)
        if state != current:
            _breaker_save(row, state)
    return allowed
