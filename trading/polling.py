"""Live market data through ccxt (SPEC T1c): `fetch_ohlcv` and `fetch_ticker` on any ccxt
exchange instance, checked row by row and stored idempotently.

ccxt reports prices as floats; they become Decimal here, at the boundary, through their
shortest repr (never Decimal(float), which keeps the binary noise)."""

import logging
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from trading import feeds
from trading.exceptions import ExchangeError, OrderRejected
from trading.replay import MarketDataInvalid, decimal_from, ohlcv_candle
from trading.services.marketdata import candles_store, tickers_store

logger = logging.getLogger(__name__)


def ohlcv_rows_candles(rows: list, *, name: str) -> list[feeds.Candle]:
    """Exchange OHLCV rows as candles. A malformed row is skipped and logged (the exchange
    is not ours to refuse), never stored; the rest are kept in time order, duplicates once."""
    candles: dict[datetime, feeds.Candle] = {}
    for i, row in enumerate(rows):
        try:
            candle = ohlcv_candle(row)
        except (ValueError, TypeError) as exc:
            logger.warning("malformed ohlcv row skipped", extra={"source": name, "row": i, "reason": str(exc)})
            continue
        candles[candle.ts] = candle
    return [candles[ts] for ts in sorted(candles)]


def ticker_from_ccxt(data: dict, *, name: str) -> feeds.Ticker:
    """A ccxt unified ticker as ours; MarketDataInvalid names the missing or bad field."""
    try:
        last = decimal_from(data.get("last") if data.get("last") is not None else data.get("close"), "last")
        if last <= 0:
            raise ValueError(f"last must be positive, got {last}")
        if data.get("timestamp") is None:
            raise ValueError("timestamp is missing")
        bid, ask = (decimal_from(data[k], k) if data.get(k) is not None else None for k in ("bid", "ask"))
        volume = decimal_from(data.get("baseVolume") or 0, "baseVolume")
    except ValueError as exc:
        raise MarketDataInvalid(f"{name}: ticker: {exc}") from None
    ts = datetime.fromtimestamp(data["timestamp"] / 1000, tz=UTC)
    return feeds.Ticker(ts=ts, bid=bid, ask=ask, last=last, base_volume=volume)


class PollingFeed:
    """Polls one ccxt exchange (public endpoints only) and stores what it gets."""

    def __init__(self, exchange, *, timeframe: str = feeds.TIMEFRAME):
        self.exchange = exchange
        self.timeframe = timeframe
        self.source = str(exchange.id)

    def poll_ohlcv(self, symbol: str, *, since: int | None = None, limit: int = 100) -> int:
        """Fetch recent candles and store the new ones; returns how many were new."""
        rows = self.exchange.fetch_ohlcv(symbol, self.timeframe, since=since, limit=limit)
        return self.store_ohlcv(symbol, rows)

    def store_ohlcv(self, symbol: str, rows: list) -> int:
        candles = ohlcv_rows_candles(rows, name=f"{self.source} {symbol}")
        return candles_store(source=self.source, symbol=symbol, timeframe=self.timeframe, candles=candles)

    def poll_ticker(self, symbol: str) -> feeds.Ticker:
        ticker = ticker_from_ccxt(self.exchange.fetch_ticker(symbol), name=f"{self.source} {symbol}")
        tickers_store(source=self.source, tickers={symbol: ticker})
        return ticker


class LiveFeed:
    """One tick's market data, polled through the live adapter (its rate budget, retries and
    breakers), behind the scenario feed's interface (trading.feeds.Feed). Index `cursor` is
    the latest kline (the one still forming: its close is the last trade), cursor - 1 the one
    before, and so on. A symbol whose poll failed has no data: the engine treats it like an
    exchange outage (no mark, no order)."""

    def __init__(self, *, source: str, cursor: int, candles: dict, tickers: dict, errors: dict | None = None):
        self.source, self.cursor = source, cursor
        self._candles: dict[str, list[feeds.Candle]] = candles
        self._closes = {s: np.array([float(c.close) for c in rows]) for s, rows in candles.items()}
        self._tickers: dict[str, feeds.Ticker] = tickers
        self.errors: dict[str, str] = errors or {}

    def _row(self, symbol: str, index: int) -> int | None:
        rows = self._candles.get(symbol) or []
        i = len(rows) - 1 - (self.cursor - index)
        return i if 0 <= i < len(rows) else None

    def ts_of(self, index: int) -> datetime:
        for symbol in self._candles:
            if (i := self._row(symbol, index)) is not None:
                return self._candles[symbol][i].ts
        return datetime.now(tz=UTC)

    def candle(self, symbol: str, index: int) -> feeds.Candle | None:
        i = self._row(symbol, index)
        return None if i is None else self._candles[symbol][i]

    def ticker(self, symbol: str, index: int) -> feeds.Ticker | None:
        return self._tickers.get(symbol) if index == self.cursor else None

    def closes(self, symbol: str, *, end: int, length: int) -> np.ndarray:
        closes = self._closes.get(symbol)
        if closes is None:
            return np.array([])
        stop = len(closes) - (self.cursor - end)
        return closes[max(0, stop - length) : max(0, stop)]

    def settled(self) -> dict[str, feeds.Candle]:
        """The last closed kline of each symbol: what is stored (the forming one changes)."""
        return {s: rows[-2] for s, rows in self._candles.items() if len(rows) >= 2}


def live_feed_poll(*, exchange, symbols: list[str], cursor: int, history: int) -> LiveFeed:
    """Poll each symbol's recent klines and ticker through `exchange` (a LiveExchange), and
    load its market structure, so the tick itself makes no network call. Bounded: two
    requests per symbol (plus the markets once per adapter)."""
    candles, tickers, errors = {}, {}, {}
    for symbol in symbols:
        try:
            exchange.market(symbol)
            rows = exchange.ohlcv(symbol, feeds.TIMEFRAME, limit=history + 1)
            raw = exchange.ticker(symbol)
        except (ExchangeError, OrderRejected) as exc:  # unreachable, or no such market there
            errors[symbol] = f"{exc.code}: {exc}"
            logger.warning("live poll failed", extra={"symbol": symbol, "error": exc.code})
            continue
        name = f"{exchange.client.id} {symbol}"
        candles[symbol] = ohlcv_rows_candles(rows, name=name)
        try:
            tickers[symbol] = _ticker_from_adapter(raw, name=name)
        except MarketDataInvalid as exc:
            errors[symbol] = str(exc)
            candles.pop(symbol)
    return LiveFeed(source=str(exchange.client.id), cursor=cursor, candles=candles, tickers=tickers, errors=errors)


def _ticker_from_adapter(raw: dict, *, name: str) -> feeds.Ticker:
    last = raw.get("last")
    if last is None or last <= 0 or raw.get("ts") is None:
        raise MarketDataInvalid(f"{name}: ticker: no positive last price or no timestamp")
    return feeds.Ticker(
        ts=datetime.fromtimestamp(raw["ts"] / 1000, tz=UTC),
        bid=raw.get("bid") or last,
        ask=raw.get("ask") or last,
        last=last,
        base_volume=raw.get("baseVolume") or Decimal("0"),
    )
