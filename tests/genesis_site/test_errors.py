"""Error categories (SPEC M7): every exception maps to a category, a severity and a hint."""

import ccxt
import pytest
from django.db import IntegrityError, OperationalError, ProgrammingError
from redis.exceptions import ConnectionError as RedisConnectionError

from genesis_site.errors import CATEGORIES, SEVERITIES, error_categorize
from risk.exceptions import ConfigInvalid, RiskRefused
from trading.exceptions import (
    ExchangeAuthFailed,
    ExchangeUnavailable,
    IllegalTransition,
    InsufficientFunds,
    OrderStateUnknown,
    RateLimited,
    TradingError,
)
from trading.markets import UnknownMarket


@pytest.mark.parametrize(
    ("exc", "category", "severity"),
    [
        (ExchangeAuthFailed("bad key"), "exchange", "critical"),
        (ccxt.AuthenticationError("binance 401"), "exchange", "critical"),
        (OrderStateUnknown("timeout on POST order"), "exchange", "critical"),
        (RateLimited("429"), "exchange", "warning"),
        (ccxt.RateLimitExceeded("418"), "exchange", "warning"),  # a ccxt NetworkError, but a rate limit first
        (ExchangeUnavailable("503"), "exchange", "error"),
        (ccxt.ExchangeNotAvailable("maintenance"), "exchange", "error"),
        (InsufficientFunds("balance"), "exchange", "warning"),
        (ccxt.ExchangeError("unknown"), "exchange", "error"),
        (ccxt.RequestTimeout("read timeout"), "network", "error"),
        (RedisConnectionError("redis down"), "network", "error"),
        (ConnectionRefusedError(111, "refused"), "network", "error"),
        (TimeoutError(), "network", "error"),
        (OperationalError("server closed the connection"), "database", "critical"),
        (IntegrityError("duplicate key"), "database", "error"),
        (ProgrammingError("no such column"), "database", "error"),
        (ConfigInvalid(["max_exposure_pct: above 100"]), "validation", "warning"),
        (UnknownMarket("XYZ/USDT"), "validation", "warning"),
        (ValueError("not a number"), "validation", "warning"),
        (RiskRefused("max_exposure", "too much"), "business", "warning"),
        (IllegalTransition("filled -> new"), "business", "warning"),
        (TradingError("something"), "business", "error"),
        (KeyError("x"), "system", "error"),
        (ZeroDivisionError(), "system", "error"),
        (MemoryError(), "system", "critical"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_each_exception_gets_its_category_severity_and_a_hint(exc, category, severity):
    found = error_categorize(exc)
    assert (found.category, found.severity) == (category, severity)
    assert found.hint.strip()


def test_a_class_is_categorized_like_its_instances_and_nothing_is_uncategorized():
    assert error_categorize(RateLimited) == error_categorize(RateLimited("x"))
    assert error_categorize(None).category == "system"
    assert {
        error_categorize(e).category
        for e in (RateLimited(), TimeoutError(), IntegrityError(), ValueError(), RiskRefused("r", "m"), KeyError())
    } == set(CATEGORIES)
    assert error_categorize(MemoryError()).severity in SEVERITIES
