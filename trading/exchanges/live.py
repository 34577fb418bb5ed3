"""The live exchange adapter over ccxt (SPEC T5): Binance spot through ccxt's unmodified
`binance` client, or the exchange emulator on loopback through the same client.

- Every call first takes its request weight from the API key's shared budget (cancels first).
- ccxt errors become ours: InsufficientFunds / InvalidOrder (rejections, never retried),
  OrderNotFound, ExchangeAuthFailed, RateLimited and ExchangeUnavailable (retried with
  exponential backoff and full jitter; nothing else is retried).
- A submit carries the order's idempotency key as the client order id. A submit whose answer
  is lost is never resent blindly: the order is looked up by its client order id, and when
  that does not settle it, OrderStateUnknown leaves it to reconciliation.
- Outcomes feed the circuit breakers (exchange status, consecutive API errors, API error
  bursts, order rejection bursts, latency above `latency_limit`) and exchange_api_* metrics.
- ccxt reports numbers as floats; they become Decimals here through ccxt's own
  float-to-string conversion.
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

import ccxt

from trading import metrics
from trading.exceptions import (
    ExchangeAuthFailed,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    OrderStateUnknown,
    RateLimited,
)
from trading.exchanges.ratelimit import BINANCE_WEIGHTS, OPEN_ORDERS_ALL_SYMBOLS_WEIGHT, RateBudget
from trading.markets import Market, market_from_ccxt

logger = logging.getLogger(__name__)
ZERO = Decimal("0")
# ccxt's unified order status -> ours (SPEC T3); a partly filled open order is partially_filled.
STATUS = {
    "open": "submitted",
    "closed": "filled",
    "canceled": "cancelled",
    "expired": "expired",
    "rejected": "rejected",
}
# Every breaker source of SPEC R5 this adapter feeds (risk.policy.BREAKER_SOURCES).
BREAKER_SOURCES = ("exchange_status", "consecutive_api_errors", "api_error_burst", "order_rejection_burst", "latency")


def binance_client(
    *,
    api_key: str = "",
    secret: str = "",
    base_url: str | None = None,
    timeout_ms: int = 10_000,
    rate_limit_ms: float | None = None,
) -> ccxt.binance:
    """ccxt's binance client, spot only, rate limiting on (`rate_limit_ms` overrides ccxt's
    per-request spacing, e.g. for the emulator in tests). `base_url` (the emulator) replaces
    the host of every API URL, so no call can leave loopback by accident."""
    client = ccxt.binance(
        {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": True,
            **({"rateLimit": rate_limit_ms} if rate_limit_ms is not None else {}),
            "timeout": timeout_ms,
            "options": {
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            },
        }
    )
    if base_url:
        client.urls["api"] = {
            name: base_url.rstrip("/") + urlsplit(url).path for name, url in client.urls["api"].items()
        }
    return client


def exchange_error_map(exc: ccxt.BaseError) -> ExchangeError | OrderRejected:
    """Our exception for a ccxt exception (order matters: ccxt's OrderNotFound is an
    InvalidOrder, RateLimitExceeded a DDoSProtection, both NetworkErrors)."""
    message = str(exc)
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientFunds(f"insufficient funds: {message}")
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(message)
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.BadSymbol):
        return InvalidOrder(f"invalid order: {message}")
    if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        return ExchangeAuthFailed(message)
    if isinstance(exc, ccxt.DDoSProtection):
        return RateLimited(message)
    if isinstance(exc, ccxt.OperationFailed):
        return ExchangeUnavailable(message)
    return ExchangeError(message)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_seconds: float = 0.25
    cap_seconds: float = 8.0
    rate_limited_factor: float = 4.0  # a 429 backs off harder than a network blip

    def delay(self, attempt: int, exc: ExchangeError) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        base = self.base_seconds * (self.rate_limited_factor if isinstance(exc, RateLimited) else 1)
        return random.uniform(0, min(self.cap_seconds, base * 2**attempt))


@dataclass(frozen=True)
class ExchangeTrade:
    id: str
    order_id: str
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: str
    timestamp: int | None


@dataclass(frozen=True)
class ExchangeOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str  # ours: submitted, partially_filled, filled, cancelled, expired, rejected
    amount: Decimal
    filled: Decimal
    price: Decimal | None
    average: Decimal | None
    fee: Decimal
    fee_currency: str
    timestamp: int | None
    trades: tuple[ExchangeTrade, ...] = field(default=())

    @property
    def is_open(self) -> bool:
        return self.status in ("submitted", "partially_filled")


class LiveExchange:
    """What the engine and reconciliation ask of a real exchange, in Decimals and our errors."""

    def __init__(
        self,
        *,
        client: ccxt.Exchange,
        budget: RateBudget | None = None,
        account_id: int | None = None,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        latency_limit: float = 2.0,
    ):
        self.client, self.budget, self.account_id = client, budget, account_id
        self.retry, self.sleep, self.latency_limit = retry, sleep, latency_limit
        self.consecutive_errors = 0
        self._markets: dict[str, Market] | None = None
        # Breakers this adapter may have to report a recovery to (all of them on start: a
        # fresh adapter does not know what an earlier process left open).
        self._unhealthy = set(BREAKER_SOURCES)

    # --- plumbing --------------------------------------------------------------------------
    def _num(self, value) -> Decimal | None:
        return None if value is None else Decimal(self.client.number_to_string(value))

    def _breakers(self, outcomes: dict[str, bool]) -> None:
        """Report to the account's circuit breakers: every failure, and a success only to a
        breaker this adapter last saw failing (a healthy call costs no database write)."""
        if self.account_id is None:
            return
        from risk.services.breakers import breaker_record

        for source, ok in outcomes.items():
            if not ok:
                self._unhealthy.add(source)
                breaker_record(account_id=self.account_id, source=source, ok=False)
            elif source in self._unhealthy:
                self._unhealthy.discard(source)
                breaker_record(account_id=self.account_id, source=source, ok=True)

    def _outcome(self, exc: ExchangeError | None, seconds: float) -> None:
        name = self.client.id
        healthy = exc is None or isinstance(exc, OrderRejected | OrderNotFound)
        # A rejection or a not-found is the exchange working as it should.
        outcomes = {"consecutive_api_errors": healthy, "api_error_burst": healthy}
        outcomes["exchange_status"] = not isinstance(exc, ExchangeUnavailable)
        if isinstance(exc, OrderRejected):
            outcomes["order_rejection_burst"] = False
        if exc is None:
            outcomes["latency"] = seconds <= self.latency_limit
        if healthy:
            self.consecutive_errors = 0
        else:
            self.consecutive_errors += 1
            metrics.exchange_api_errors_total.labels(exchange=name, kind=exc.code).inc()
        metrics.exchange_api_consecutive_errors.labels(exchange=name).set(self.consecutive_errors)
        self._breakers(outcomes)

    def _once(self, fn: Callable, weight: int, priority: str):
        if self.budget is not None:
            self.budget.acquire(weight, priority=priority)
        started = time.perf_counter()
        try:
            result = fn()
        except ccxt.BaseError as exc:
            mapped = exchange_error_map(exc)
            self._outcome(mapped, time.perf_counter() - started)
            raise mapped from exc
        self._outcome(None, time.perf_counter() - started)
        return result

    def _call(
        self,
        name: str,
        fn: Callable,
        *,
        endpoint: tuple[str, str],
        priority: str = "read",
        retry: bool = True,
        weight: int | None = None,
    ):
        weight = weight or BINANCE_WEIGHTS[endpoint]
        started = time.perf_counter()
        try:
            for attempt in range(self.retry.attempts):
                try:
                    return self._once(fn, weight, priority)
                except ExchangeError as exc:
                    if not (retry and exc.retryable) or attempt == self.retry.attempts - 1:
                        raise
                    delay = self.retry.delay(attempt, exc)
                    logger.warning("exchange call retried", extra={"call": name, "error": exc.code, "delay": delay})
                    self.sleep(delay)
        finally:
            metrics.exchange_api_latency.labels(exchange=self.client.id, call=name).observe(
                time.perf_counter() - started
            )

    # --- parsing ---------------------------------------------------------------------------
    def _trade(self, raw: dict) -> ExchangeTrade:
        fee = raw.get("fee") or {}
        return ExchangeTrade(
            id=str(raw["id"]),
            order_id=str(raw.get("order") or ""),
            symbol=raw["symbol"],
            side=raw.get("side") or "",
            price=self._num(raw["price"]),
            amount=self._num(raw["amount"]),
            fee=self._num(fee.get("cost")) or ZERO,
            fee_currency=fee.get("currency") or "",
            liquidity=raw.get("takerOrMaker") or "taker",
            timestamp=raw.get("timestamp"),
        )

    def _order(self, raw: dict) -> ExchangeOrder:
        filled = self._num(raw.get("filled")) or ZERO
        status = STATUS.get(raw.get("status"), "submitted")
        if status == "submitted" and filled > 0:
            status = "partially_filled"
        fee = raw.get("fee") or {}
        trades = tuple(self._trade({**t, "symbol": raw["symbol"], "order": raw["id"]}) for t in raw.get("trades") or ())
        return ExchangeOrder(
            id=str(raw["id"]),
            client_order_id=raw.get("clientOrderId") or "",
            symbol=raw["symbol"],
            side=raw["side"],
            type=raw.get("type") or "",
            status=status,
            amount=self._num(raw.get("amount")) or ZERO,
            filled=filled,
            price=self._num(raw.get("price")) or None,
            average=self._num(raw.get("average")),
            fee=self._num(fee.get("cost")) or ZERO,
            fee_currency=fee.get("currency") or "",
            timestamp=raw.get("timestamp"),
            trades=trades,
        )

    # --- the interface ---------------------------------------------------------------------
    def load_markets(self) -> dict[str, Market]:
        raw = self._call("load_markets", self.client.load_markets, endpoint=("GET", "exchangeInfo"))
        return {s: market_from_ccxt(self.client, m) for s, m in raw.items() if m.get("spot")}

    def market(self, symbol: str) -> Market:
        """The market's precision and limits (markets loaded once per adapter)."""
        if self._markets is None:
            self._markets = self.load_markets()
        try:
            return self._markets[symbol]
        except KeyError:
            raise InvalidOrder(f"invalid order: unknown market {symbol!r} on {self.client.id}") from None

    def balance(self) -> dict[str, tuple[Decimal, Decimal]]:
        """{asset: (free, used)} for every asset held."""
        raw = self._call("balance", self.client.fetch_balance, endpoint=("GET", "account"))
        return {a: (self._num(raw["free"][a]) or ZERO, self._num(raw["used"][a]) or ZERO) for a in raw["total"]}

    def ticker(self, symbol: str) -> dict[str, Decimal | None]:
        raw = self._call("ticker", lambda: self.client.fetch_ticker(symbol), endpoint=("GET", "ticker/24hr"))
        fields = ("last", "bid", "ask", "high", "low", "baseVolume")
        return {k: self._num(raw.get(k)) for k in fields} | {"ts": raw.get("timestamp")}

    def ohlcv(self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None) -> list:
        """[ts, open, high, low, close, volume] rows with Decimal prices."""
        rows = self._call(
            "ohlcv", lambda: self.client.fetch_ohlcv(symbol, timeframe, since, limit), endpoint=("GET", "klines")
        )
        return [[r[0], *(self._num(x) for x in r[1:6])] for r in rows]

    def quote_price(self, *, market: Market, side: str, last_price: Decimal) -> Decimal:
        """The best price a market order of `side` would take now (the paper exchange's call)."""
        ticker = self.ticker(market.symbol)
        return (ticker["ask"] if side == "buy" else ticker["bid"]) or last_price

    def fetch_order(self, *, symbol: str, client_order_id: str) -> ExchangeOrder:
        """The order with this client order id (OrderNotFound if the exchange denies it)."""
        raw = self._call(
            "fetch_order",
            lambda: self.client.fetch_order(None, symbol, {"origClientOrderId": client_order_id}),
            endpoint=("GET", "order"),
        )
        return self._order(raw)

    def order_trades(self, *, symbol: str, order_id: str) -> list[ExchangeTrade]:
        raw = self._call(
            "my_trades",
            lambda: self.client.fetch_my_trades(symbol, None, None, {"orderId": order_id}),
            endpoint=("GET", "myTrades"),
        )
        return [self._trade(t) for t in raw]

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        raw = self._call(
            "open_orders",
            lambda: self.client.fetch_open_orders(symbol),
            endpoint=("GET", "openOrders"),
            weight=None if symbol else OPEN_ORDERS_ALL_SYMBOLS_WEIGHT,
        )
        return [self._order(o) for o in raw]

    def cancel_order(self, *, symbol: str, client_order_id: str) -> ExchangeOrder:
        """Cancel by client order id, ahead of every other call in the rate budget. Idempotent:
        an order that is no longer open answers with its current state."""
        try:
            raw = self._call(
                "cancel_order",
                lambda: self.client.cancel_order(None, symbol, {"origClientOrderId": client_order_id}),
                endpoint=("DELETE", "order"),
                priority="cancel",
            )
        except OrderNotFound:
            return self.fetch_order(symbol=symbol, client_order_id=client_order_id)
        return self._order(raw)

    def create_order(
        self,
        *,
        symbol: str,
        side: str,
        amount: Decimal,
        client_order_id: str,
        order_type: str = "market",
        price: Decimal | None = None,
    ) -> ExchangeOrder:
        """Place an order whose client order id is our idempotency key. Resent only after a
        refusal that proves the exchange did not act (rate limit); after an ambiguous failure
        the order is looked up by client order id instead, and OrderStateUnknown is raised if
        that does not find it, so a lost answer never becomes a second order."""
        # ccxt would silently truncate an amount off the lot step: the exchange would then hold
        # a different order than our row. Refuse instead, naming the step.
        market = self.market(symbol)
        if market.floor_amount(amount) != amount:
            raise InvalidOrder(f"invalid order: amount {amount} {market.base} is off the lot step {market.amount_step}")
        if price is not None and market.round_price(price, up=False) != price:
            raise InvalidOrder(f"invalid order: price {price} is off the tick {market.price_step}")
        params = {"newClientOrderId": client_order_id}

        def place():
            return self.client.create_order(
                symbol, order_type, side, float(amount), float(price) if price is not None else None, params
            )

        for attempt in range(self.retry.attempts):
            try:
                placed = self._call("create_order", place, endpoint=("POST", "order"), priority="order", retry=False)
                self._breakers({"order_rejection_burst": True})
                return self._order(placed)
            except RateLimited as exc:
                if attempt == self.retry.attempts - 1:
                    raise
                self.sleep(self.retry.delay(attempt, exc))
            except InvalidOrder as exc:
                if "Duplicate order sent" not in str(exc):
                    raise
                # Our own earlier attempt is open on the exchange: that is the order.
                return self.fetch_order(symbol=symbol, client_order_id=client_order_id)
            except ExchangeUnavailable as exc:
                return self._settle_ambiguous(symbol, client_order_id, exc)
        raise AssertionError("unreachable")

    def _settle_ambiguous(self, symbol: str, client_order_id: str, cause: ExchangeError) -> ExchangeOrder:
        try:
            return self.fetch_order(symbol=symbol, client_order_id=client_order_id)
        except (OrderNotFound, ExchangeUnavailable, RateLimited):
            raise OrderStateUnknown(
                f"order {client_order_id} on {symbol}: submit outcome unknown ({cause.code}); "
                "left to reconciliation by client order id"
            ) from cause


def live_exchange_for(
    *, account_id: int, actor, base_url: str | None = None, retry: RetryPolicy = RetryPolicy()
) -> LiveExchange:
    """The adapter for a trading account: its credentials from encrypted storage (the read is
    audited), the rate budget shared by every worker using that API key, breakers fed.
    `base_url` (default: settings.GENESIS_EXCHANGE_URL) points it at the emulator."""
    from django.conf import settings

    from trading.exchanges.ratelimit import rate_budget_for
    from trading.services.credentials import credential_load

    credential, api_key, secret = credential_load(account_id=account_id, actor=actor, purpose="exchange session")
    base_url = base_url or settings.GENESIS_EXCHANGE_URL or None
    client = binance_client(api_key=api_key, secret=secret, base_url=base_url)
    return LiveExchange(
        client=client, budget=rate_budget_for(credential.fingerprint), account_id=account_id, retry=retry
    )
