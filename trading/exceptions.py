from genesis_site.domain_errors import Conflict


class TradingError(Exception):
    """Base of the trading domain errors; `code` is the stable machine-readable name."""

    code = "trading_error"


class IllegalTransition(TradingError, Conflict):
    code = "illegal_transition"


class IdempotencyConflict(TradingError, Conflict):
    """A client order id already recorded for a different order."""

    code = "idempotency_conflict"


class OrderRejected(TradingError):
    code = "order_rejected"


class InsufficientFunds(OrderRejected):
    code = "insufficient_funds"


class InvalidOrder(OrderRejected):
    code = "invalid_order"


class ExchangeError(TradingError):
    """The exchange failed a call. `retryable` errors may succeed if the call is repeated."""

    code = "exchange_error"
    retryable = False


class ExchangeUnavailable(ExchangeError):
    """Network failure, timeout or 5xx: the exchange may or may not have acted on the call."""

    code = "exchange_unavailable"
    retryable = True


class RateLimited(ExchangeError):
    """The exchange refused the call for its rate limit (it did not act on it)."""

    code = "rate_limited"
    retryable = True


class OrderNotFound(ExchangeError):
    code = "order_not_found"


class ExchangeAuthFailed(ExchangeError):
    code = "exchange_auth_failed"


class OrderStateUnknown(ExchangeError):
    """A submit whose outcome is unknown (the request may have reached the exchange). The order
    stays submitted; reconciliation resolves it by client order id. Never resent blindly."""

    code = "order_state_unknown"
