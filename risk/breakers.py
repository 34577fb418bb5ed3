"""Circuit breaker state machine (SPEC R5): closed -> open after `failure_threshold`
consecutive failures; open -> half-open once `recovery_seconds` have passed; half-open lets
`half_open_probes` calls through: that many successes close it, any failure re-opens it.

Pure functions over an immutable state, so the rules are tested without a database; the
persisted row and its locking live in risk.services."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from risk.policy import Breaker

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}  # exported as trader_circuit_breaker_state


@dataclass(frozen=True)
class BreakerState:
    state: str = CLOSED
    failures: int = 0
    opened_at: datetime | None = None
    probes_in_flight: int = 0
    probe_successes: int = 0


def _open(now: datetime) -> BreakerState:
    return BreakerState(state=OPEN, failures=0, opened_at=now)


def breaker_current(s: BreakerState, cfg: Breaker, now: datetime) -> BreakerState:
    """An open breaker whose recovery timeout has passed is half-open."""
    if s.state == OPEN and now - s.opened_at >= timedelta(seconds=cfg.recovery_seconds):
        return replace(s, state=HALF_OPEN, probes_in_flight=0, probe_successes=0)
    return s


def breaker_allow(s: BreakerState, cfg: Breaker, now: datetime) -> tuple[bool, BreakerState]:
    """Whether a call may go through now, and the state after counting it as a probe."""
    s = breaker_current(s, cfg, now)
    if s.state == CLOSED:
        return True, s
    if s.state == HALF_OPEN and s.probes_in_flight < cfg.half_open_probes:
        return True, replace(s, probes_in_flight=s.probes_in_flight + 1)
    return False, s


def breaker_failure(s: BreakerState, cfg: Breaker, now: datetime) -> tuple[BreakerState, bool]:
    """Record a failure; returns the new state and whether this failure tripped it open."""
    s = breaker_current(s, cfg, now)
    if s.state == HALF_OPEN:
        return _open(now), True
    if s.state == OPEN:
        return s, False
    failures = s.failures + 1
    if failures >= cfg.failure_threshold:
        return _open(now), True
    return replace(s, failures=failures), False


def breaker_success(s: BreakerState, cfg: Breaker, now: datetime) -> BreakerState:
    s = breaker_current(s, cfg, now)
    if s.state == HALF_OPEN:
        successes = s.probe_successes + 1
        if successes >= cfg.half_open_probes:
            return BreakerState()
        return replace(s, probe_successes=successes)
    if s.state == CLOSED:
        return replace(s, failures=0)
    return s
