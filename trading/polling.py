"""Live market data through ccxt (SPEC T1c): `fetch_ohlcv` and `fetch_ticker` on any ccxt
exchange instance, checked row by row and stored idempotently.

ccxt reports prices as floats; they become Decimal here, at the boundary, through their
shortest repr (never Decimal(float), which keeps the binary noise)."""

import logging
from datetime import UTC, datetime

from trading import feeds
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
