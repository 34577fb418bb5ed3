"""Circuit breaker services (SPEC R5): the persisted state of each breaker, changed under a
row lock with the pure rules of risk.breakers."""

from dataclasses import asdict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from compliance.services import Actor, audit_append
from risk import breakers as cb
from risk import metrics
from risk.alerts import alert_raise
from risk.models import CircuitBreakerState
from risk.policy import BREAKER_SOURCES, Breaker
from risk.selectors import config_version_active, policy_of
from trading.live import account_changed


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
    if row.state != state.state:
        account_changed(account_id=row.account_id, kind="breaker", source=row.source, state=state.state)
    for name, value in asdict(state).items():
        setattr(row, name, value)
    row.save()
    metrics.breaker_state.labels(account=str(row.account_id), source=row.source).set(cb.STATE_VALUE[row.state])


def breaker_record(*, account_id: int, source: str, ok: bool, now: datetime | None = None) -> str:
    """Record one outcome of calls guarded by the breaker; returns its state. A trip is
    audited and counted. The row lock serializes workers reporting at the same time."""
    return breaker_record_many(account_id=account_id, source=source, outcomes=[ok], now=now)


def breaker_record_many(*, account_id: int, source: str, outcomes: list[bool], now: datetime | None = None) -> str:
    """Record several outcomes, in order, under one row lock and one write: the same states,
    trips, audit events and alerts as one `breaker_record` per outcome. Returns the state."""
    now, cfg = now or timezone.now(), _breaker_config(account_id, source)
    with transaction.atomic():
        row = _breaker_locked(account_id, source)
        state = cb.BreakerState(row.state, row.failures, row.opened_at, row.probes_in_flight, row.probe_successes)
        for ok in outcomes:
            current, tripped = state, False
            if ok:
                state = cb.breaker_success(current, cfg, now)
            else:
                state, tripped = cb.breaker_failure(current, cfg, now)
            if tripped:
                _breaker_tripped(row, current, cfg)
        _breaker_save(row, state)
    return state.state


def _breaker_tripped(row: CircuitBreakerState, before: cb.BreakerState, cfg: Breaker) -> None:
    account_id, source = row.account_id, row.source
    row.trips += 1
    metrics.breaker_trips_total.labels(account=str(account_id), source=source).inc()
    audit_append(
        actor=Actor.system("breakers"),
        action="breaker.opened",
        obj=row,
        payload={
            "account": account_id,
            "source": source,
            "after": before.state,
            "recovery_seconds": cfg.recovery_seconds,
        },
    )
    alert_raise(
        account_id=account_id,
        type="breaker_trip",
        details={"source": source, "trips": row.trips},
        message=f"circuit breaker {source} opened; entries wait {cfg.recovery_seconds} s",
    )


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
