class TradingError(Exception):
    """Base of the trading domain errors; `code` is the stable machine-readable name."""

    code = "trading_error"


class IllegalTransition(TradingError):
    code = "illegal_transition"


class OrderRejected(TradingError):
    code = "order_rejected"
