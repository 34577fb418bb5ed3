"""SPEC R5: the three-state breaker, persisted, audited on trip, and enforced by the gate."""

from datetime import UTC, datetime, timedelta

import pytest

from compliance.models import AuditEvent
from risk import breakers as cb
from risk.models import CircuitBreakerState
from risk.policy import Breaker
from risk.selectors import breakers_open
from risk.services import breaker_allow, breaker_record
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import Order
from trading.services.engine import engine_tick

CFG = Breaker(failure_threshold=3, recovery_seconds=60, half_open_probes=2)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fail(state, n, at=T0):
    tripped = False
    for _ in range(n):
        state, tripped = cb.breaker_failure(state, CFG, at)
    return state, tripped


def test_it_opens_at_the_failure_threshold_and_a_success_resets_the_count():
    state, tripped = fail(cb.BreakerState(), 2)
    assert (state.state, state.failures, tripped) == ("closed", 2, False)
    state = cb.breaker_success(state, CFG, T0)
    state, tripped = fail(state, 2)
    assert state.state == "closed"
    state, tripped = fail(state, 1)
    assert (state.state, tripped) == ("open", True)
    assert cb.breaker_allow(state, CFG, T0 + timedelta(seconds=59))[0] is False


def test_half_open_after_the_recovery_timeout_lets_only_the_probes_through():
    state, _ = fail(cb.BreakerState(), 3)
    later = T0 + timedelta(seconds=60)
    ok1, state = cb.breaker_allow(state, CFG, later)
    ok2, state = cb.breaker_allow(state, CFG, later)
    ok3, state = cb.breaker_allow(state, CFG, later)
    assert (ok1, ok2, ok3, state.state) == (True, True, False, "half_open")


def test_successful_probes_close_it():
    state, _ = fail(cb.BreakerState(), 3)
    later = T0 + timedelta(seconds=61)
    state = cb.breaker_success(state, CFG, later)
    assert state.state == "half_open"
    state = cb.breaker_success(state, CFG, later)
    assert state == cb.BreakerState()


def test_a_failed_probe_reopens_it_for_a_full_timeout():
    state, _ = fail(cb.BreakerState(), 3)
    later = T0 + timedelta(seconds=61)
    state, tripped = cb.breaker_failure(state, CFG, later)
    assert (state.state, state.opened_at, tripped) == ("open", later, True)
    assert cb.breaker_allow(state, CFG, later + timedelta(seconds=30))[0] is False


@pytest.mark.django_db
def test_the_persisted_breaker_trips_is_audited_and_survives_as_a_row():
    account = TradingAccountFactory()
    active_policy(account)  # default profile: consecutive_api_errors threshold 5, recovery 60 s
    for _ in range(4):
        assert breaker_record(account_id=account.pk, source="consecutive_api_errors", ok=False, now=T0) == "closed"
    assert breaker_record(account_id=account.pk, source="consecutive_api_errors", ok=False, now=T0) == "open"
    row = CircuitBreakerState.objects.get(account=account, source="consecutive_api_errors")
    assert (row.state, row.trips, row.opened_at) == ("open", 1, T0)
    event = AuditEvent.objects.get(action="breaker.opened")
    assert event.payload["source"] == "consecutive_api_errors" and event.payload["recovery_seconds"] == 60
    assert event.config_hash == account.config_versions.get(is_active=True).sha256
    assert breakers_open(account_id=account.pk, now=T0 + timedelta(seconds=59)) == ["consecutive_api_errors"]
    assert breakers_open(account_id=account.pk, now=T0 + timedelta(seconds=60)) == []
    assert breaker_allow(account_id=account.pk, source="consecutive_api_errors", now=T0) is False
    assert breaker_allow(account_id=account.pk, source="consecutive_api_errors", now=T0 + timedelta(seconds=60))
    assert CircuitBreakerState.objects.get(pk=row.pk).state == "half_open"


@pytest.mark.django_db
def test_an_unknown_source_is_refused():
    account = TradingAccountFactory()
    with pytest.raises(ValueError, match="unknown breaker source 'weather'"):
        breaker_record(account_id=account.pk, source="weather", ok=False)


@pytest.mark.django_db
def test_the_engine_places_no_entry_while_a_breaker_is_open():
    account = TradingAccountFactory()
    StrategyFactory(account=account)
    active_policy(account)
    for _ in range(5):
        breaker_record(account_id=account.pk, source="api_error_burst", ok=False)
    # api_error_burst: threshold 10 in the default profile; 5 failures leave it closed
    assert breakers_open(account_id=account.pk) == []
    for _ in range(5):
        breaker_record(account_id=account.pk, source="api_error_burst", ok=False)
    assert breakers_open(account_id=account.pk) == ["api_error_burst"]
    for _ in range(60):
        engine_tick(account_id=account.pk)
    assert not Order.objects.exists()
    refusal = AuditEvent.objects.filter(action="risk.refused").first()
    assert refusal.payload["rule"] == "circuit_breaker"
    assert "circuit breaker open: api_error_burst" in refusal.payload["message"]
