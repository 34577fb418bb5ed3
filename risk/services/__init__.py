"""Risk services: configuration versions, circuit breakers, stop levels."""

from risk.services.breakers import breaker_allow, breaker_record
from risk.services.config import config_version_activate, config_version_create, config_version_rollback
from risk.services.stops import (
    StopRefused,
    StopResult,
    trading_flatten,
    trading_halt,
    trading_pause_entries,
    trading_release,
)

__all__ = [
    "StopRefused",
    "StopResult",
    "breaker_allow",
    "breaker_record",
    "config_version_activate",
    "config_version_create",
    "config_version_rollback",
    "trading_flatten",
    "trading_halt",
    "trading_pause_entries",
    "trading_release",
]
