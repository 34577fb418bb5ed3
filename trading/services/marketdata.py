"""Storing market data (SPEC T1): candles and tickers are facts keyed by (source, symbol,
timeframe, ts) and (source, symbol, ts); storing one twice is a no-op, so a replayed file,
a re-polled window or a redelivered task never duplicates a row."""

from collections.abc import Iterable

from genesis_site.bulk import rows_insert
from trading import feeds
from trading.models import Candle, Ticker


def candles_store(*, source: str, symbol: str, timeframe: str, candles: Iterable[feeds.Candle]) -> int:
    """Insert the candles not stored yet; returns how many were new."""
    rows = [Candle(source=source, symbol=symbol, timeframe=timeframe, **vars(c)) for c in candles]
    if not rows:
        return 0
    before = Candle.objects.filter(source=source, symbol=symbol, timeframe=timeframe).count()
    # ON CONFLICT DO NOTHING on the unique bar: idempotent under concurrent writers too.
    Candle.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return Candle.objects.filter(source=source, symbol=symbol, timeframe=timeframe).count() - before


def tickers_store(*, source: str, tickers: dict[str, feeds.Ticker]) -> None:
    """Insert one ticker per symbol unless that (source, symbol, ts) is already stored."""
    rows_insert(Ticker, [Ticker(source=source, symbol=s, **vars(t)) for s, t in tickers.items()], ignore_conflicts=True)
