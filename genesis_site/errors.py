"""Error categories (SPEC M7): what kind of failure an exception is, how bad, and what an
operator should do about it. One plain function, used by the error log, the dead-letter table
and anything else that reports a failure."""

from dataclasses import dataclass

import ccxt
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.exceptions import ValidationError as DrfValidationError

from compliance.exceptions import ArchiveInvalid, ComplianceError
from risk.exceptions import ConfigInvalid, RiskError, RiskRefused
from trading.exceptions import (
    ExchangeAuthFailed,
    ExchangeError,
    ExchangeUnavailable,
    IllegalTransition,
    InvalidOrder,
    OrderRejected,
    OrderStateUnknown,
    RateLimited,
    TradingError,
)
from trading.markets import UnknownMarket
from validation.exceptions import ValidationDomainError

CATEGORIES = ("exchange", "network", "database", "validation", "business", "system")
SEVERITIES = ("warning", "error", "critical")


@dataclass(frozen=True)
class ErrorCategory:
    category: str
    severity: str
    hint: str


# First match wins: subclasses before their bases (ccxt's NetworkError is an ExchangeError,
# IntegrityError and OperationalError are DatabaseErrors, RiskRefused is a RiskError).
_RULES: tuple[tuple[tuple[type[BaseException], ...], ErrorCategory], ...] = (
    (
        (ExchangeAuthFailed, ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended),
        ErrorCategory(
            "exchange", "critical", "The exchange refuses the API key: check the key, its permissions and IP allowlist."
        ),
    ),
    (
        (OrderStateUnknown,),
        ErrorCategory(
            "exchange",
            "critical",
            "An order's state is unknown: run `manage.py reconcile_orders ACCOUNT` before trading on.",
        ),
    ),
    (
        (RateLimited, ccxt.DDoSProtection, ccxt.RateLimitExceeded),
        ErrorCategory(
            "exchange",
            "warning",
            "Rate limited by the exchange: the budget recovers by itself; lower polling if it repeats.",
        ),
    ),
    (
        (ExchangeUnavailable, ccxt.ExchangeNotAvailable, ccxt.OnMaintenance),
        ErrorCategory(
            "exchange", "error", "The exchange is unavailable: check its status page; retry when it is back."
        ),
    ),
    (
        (ccxt.NetworkError, RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError),
        ErrorCategory(
            "network", "error", "A connection failed or timed out: check connectivity, DNS and the peer; retry."
        ),
    ),
    (
        (InvalidOrder, OrderRejected, ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.BadSymbol, ccxt.BadRequest),
        ErrorCategory(
            "exchange", "warning", "The exchange rejected the order: check size, price precision and balance."
        ),
    ),
    (
        (ExchangeError, ccxt.BaseError),
        ErrorCategory("exchange", "error", "The exchange call failed: check exchange_api_errors_total and its status."),
    ),
    (
        (OperationalError, InterfaceError),
        ErrorCategory(
            "database",
            "critical",
            "The database is unreachable or refused the connection: check /readyz and PostgreSQL.",
        ),
    ),
    (
        (IntegrityError,),
        ErrorCategory(
            "database", "error", "A database constraint refused a write: a duplicate or a missing row; inspect it."
        ),
    ),
    (
        (DatabaseError,),
        ErrorCategory("database", "error", "A database query failed: see the message; check migrations are applied."),
    ),
    (
        (ConfigInvalid, ArchiveInvalid, UnknownMarket, DjangoValidationError, DrfValidationError, ValueError),
        ErrorCategory("validation", "warning", "Bad input or configuration: correct the named field and resubmit."),
    ),
    (
        (RiskRefused, IllegalTransition),
        ErrorCategory(
            "business", "warning", "Refused by a rule of the system (risk gate, state machine): see the rule named."
        ),
    ),
    (
        (TradingError, RiskError, ComplianceError, ValidationDomainError),
        ErrorCategory(
            "business", "error", "A domain rule failed: read the message; the runbook of its alert says more."
        ),
    ),
)
_SYSTEM = ErrorCategory(
    "system", "error", "An unexpected error (a bug): read the traceback in the JSON log by correlation id."
)
_FATAL = ErrorCategory("system", "critical", "The process ran out of a resource: check memory and restart the process.")


def error_categorize(exc: BaseException | type[BaseException] | None) -> ErrorCategory:
    """The category, severity and remediation hint of an exception (or exception class).
    Anything not recognised is a `system` error: a bug until shown otherwise."""
    if exc is None:
        return _SYSTEM
    cls = exc if isinstance(exc, type) else type(exc)
    if issubclass(cls, MemoryError | RecursionError):
        return _FATAL
    for classes, found in _RULES:
        if issubclass(cls, classes):
            return found
    return _SYSTEM
