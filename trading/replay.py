"""OHLCV replay (SPEC T1b): CSV and ccxt's `[ts, open, high, low, close, volume]` JSON.

Every row is checked before any is used; a malformed file is refused as a whole with the
line number and the reason (SPEC §11: bad input changes nothing). A replay feed has the
scenario feed's interface, so the engine and the backtester read either the same way.
"""

import bisect
import csv
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import numpy as np

from genesis_site.domain_errors import Unprocessable
from trading.exceptions import TradingError
from trading.feeds import Candle, Ticker

CSV_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class MarketDataInvalid(TradingError):
    code = "market_data_invalid"


class ReplaySourceRefused(Unprocessable, MarketDataInvalid):
    """Replay files well-formed as a request but refused by what they hold or where they are
    (missing, outside the replay directory, a malformed row): 422 through the API."""


def decimal_from(value, name: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{name} is not a number: {value!r}")
    try:
        # str() first: ccxt hands floats over, and Decimal(float) would keep binary noise.
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} is not finite: {value!r}")
    return number


def _timestamp(value) -> datetime:
    text = str(value).strip()
    if text.lstrip("-").isdigit() or isinstance(value, int | float):
        millis = int(Decimal(text))
        if millis < 0:
            raise ValueError(f"timestamp is negative: {value!r}")
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"timestamp is neither milliseconds nor ISO 8601: {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"timestamp has no time zone: {value!r}")
    return moment.astimezone(UTC)


def ohlcv_candle(row: Sequence) -> Candle:
    """One `[ts, open, high, low, close, volume]` row as a Candle, or ValueError naming the
    first thing wrong with it."""
    if len(row) != 6:
        raise ValueError(f"expected 6 fields (timestamp, open, high, low, close, volume), got {len(row)}")
    ts = _timestamp(row[0])
    o, h, lo, c, v = (decimal_from(x, name) for x, name in zip(row[1:], CSV_COLUMNS[1:], strict=True))
    for name, price in (("open", o), ("high", h), ("low", lo), ("close", c)):
        if price <= 0:
            raise ValueError(f"{name} must be positive, got {price}")
    if v < 0:
        raise ValueError(f"volume must not be negative, got {v}")
    if h < max(o, c, lo) or lo > min(o, c):
        raise ValueError(f"high {h} / low {lo} do not bound open {o} and close {c}")
    return Candle(ts=ts, open=o, high=h, low=lo, close=c, volume=v)


def _checked(rows: Iterator[tuple[int, Sequence]], name: str) -> list[Candle]:
    candles: list[Candle] = []
    for line, row in rows:
        try:
            candle = ohlcv_candle(row)
            if candles and candle.ts <= candles[-1].ts:
                raise ValueError(f"timestamp {candle.ts:%Y-%m-%d %H:%M:%S} is not after the previous row's")
        except ValueError as exc:
            raise MarketDataInvalid(f"{name}: line {line}: {exc}") from None
        candles.append(candle)
    if not candles:
        raise MarketDataInvalid(f"{name}: no OHLCV rows")
    return candles


def _csv_rows(text: str) -> Iterator[tuple[int, Sequence]]:
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        if line == 1 and not row[0].strip().lstrip("-")[:1].isdigit():
            if tuple(c.strip().lower() for c in row) != CSV_COLUMNS:
                raise ValueError(f"header must be {','.join(CSV_COLUMNS)}, got {','.join(row)}")
            continue
        yield line, row


def _json_rows(text: str) -> Iterator[tuple[int, Sequence]]:
    """The elements of a top-level JSON list with the line each starts on."""
    decoder, pos = json.JSONDecoder(), 0
    pos = _skip_space(text, pos)
    if text[pos : pos + 1] != "[":
        raise ValueError("expected a JSON list of [timestamp, open, high, low, close, volume] rows")
    pos = _skip_space(text, pos + 1)
    while text[pos : pos + 1] != "]":
        line = text.count("\n", 0, pos) + 1
        try:
            row, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {exc.lineno}: invalid JSON: {exc.msg}") from None
        if not isinstance(row, list):
            raise ValueError(f"line {line}: a row must be a list, got {type(row).__name__}")
        yield line, row
        pos = _skip_space(text, pos)
        if text[pos : pos + 1] == ",":
            pos = _skip_space(text, pos + 1)
        elif text[pos : pos + 1] != "]":
            raise ValueError(f"line {text.count(chr(10), 0, pos) + 1}: expected ',' or ']'")


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def ohlcv_parse(text: str, *, fmt: str, name: str = "input") -> list[Candle]:
    """Parse a whole OHLCV document (`fmt` "csv" or "json"); MarketDataInvalid with the
    line number and reason if any row is malformed or out of time order."""
    if fmt not in ("csv", "json"):
        raise MarketDataInvalid(f"format: {fmt!r} is not csv or json")
    rows = _csv_rows(text) if fmt == "csv" else _json_rows(text)
    try:
        return _checked(rows, name)
    except ValueError as exc:  # raised by the row readers themselves (header, JSON syntax)
        message = str(exc)
        raise MarketDataInvalid(f"{name}: {message if message.startswith('line') else 'line 1: ' + message}") from None


def ohlcv_load(path: str | Path) -> list[Candle]:
    """Read an OHLCV file; the format follows the suffix (.csv or .json)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MarketDataInvalid(f"{path.name}: cannot read: {exc}") from None
    return ohlcv_parse(text, fmt=fmt, name=path.name)


class ReplayFeed:
    """Recorded candles behind the scenario feed's interface (trading.feeds.Feed): index i
    is the file's i-th row; past the last row there is no data."""

    def __init__(self, candles: dict[str, list[Candle]], *, source: str, spread_bps: Decimal = Decimal("2")):
        self.source = source
        self._candles = candles
        self._closes = {s: np.array([float(c.close) for c in rows]) for s, rows in candles.items()}
        self._spread = spread_bps / 20_000
        self._stamps = [c.ts for c in next(iter(candles.values()))]

    @classmethod
    def from_files(cls, files: dict[str, str | Path], *, source: str = "replay") -> "ReplayFeed":
        return cls({symbol: ohlcv_load(path) for symbol, path in files.items()}, source=source)

    def __len__(self) -> int:
        return min(len(rows) for rows in self._candles.values())

    def ts_of(self, index: int) -> datetime:
        rows = next(iter(self._candles.values()))
        return rows[min(max(index, 0), len(rows) - 1)].ts

    def index_at(self, moment: datetime) -> int:
        """The last index whose candle is at or before `moment` (-1 if none is)."""
        return bisect.bisect_right(self._stamps, moment) - 1

    def candle(self, symbol: str, index: int) -> Candle | None:
        rows = self._candles[symbol]
        return rows[index] if 0 <= index < len(rows) else None

    def ticker(self, symbol: str, index: int) -> Ticker | None:
        candle = self.candle(symbol, index)
        if candle is None:
            return None
        half = candle.close * self._spread
        return Ticker(candle.ts, candle.close - half, candle.close + half, candle.close, candle.volume)

    def closes(self, symbol: str, *, end: int, length: int) -> np.ndarray:
        return self._closes[symbol][max(0, end - length + 1) : end + 1]


def replay_files_check(files: dict, *, symbols: list[str], root: Path | None = None) -> dict[str, str]:
    """An account's replay files ({symbol: path}) checked: every symbol one of the account's,
    every file present and well formed (MarketDataInvalid naming the symbol, the file, the
    line and the reason otherwise). Returns them with absolute paths. With `root` (the API),
    a relative path is read from `root` and a path leading outside it is refused."""
    if not isinstance(files, dict):
        raise MarketDataInvalid('replay_files: expected {"SYMBOL": "path"}')
    checked = {}
    for symbol, path in files.items():
        if symbol not in symbols:
            raise MarketDataInvalid(f"replay_files: {symbol} is not an account symbol ({', '.join(symbols)})")
        if not isinstance(path, str) or not path.strip():
            raise MarketDataInvalid(f"replay_files: {symbol}: the path must be a non-empty string")
        try:
            resolved = (root / path).resolve() if root is not None else Path(path).expanduser().resolve()
            if root is not None and not resolved.is_relative_to(root.resolve()):
                raise MarketDataInvalid(f"replay_files: {symbol}: {path} is outside the replay directory")
            if not resolved.is_file():
                raise MarketDataInvalid(f"replay_files: {symbol}: {path} does not exist or is not a file")
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte: no such file either
            raise MarketDataInvalid(f"replay_files: {symbol}: {path!r} cannot be a file: {exc}") from None
        if resolved.suffix.lower() not in (".csv", ".json"):
            raise MarketDataInvalid(f"replay_files: {symbol}: {path} is neither .csv nor .json")
        try:
            ohlcv_load(resolved)
        except MarketDataInvalid as exc:
            raise MarketDataInvalid(f"replay_files: {symbol}: {exc}") from None
        checked[symbol] = str(resolved)
    return checked


@lru_cache(maxsize=16)
def _replay_feed_cached(files: tuple[tuple[str, str], ...], stamps: tuple[int, ...]) -> ReplayFeed:
    names = ",".join(Path(path).stem for _, path in files)
    return ReplayFeed.from_files(dict(files), source=f"replay:{names}"[:64])


def replay_feed_for(files: dict[str, str]) -> ReplayFeed:
    """The replay feed of an account's files, parsed once per process and again only when
    a file changes (its modification time is part of the cache key)."""
    items = tuple(sorted(files.items()))
    try:
        stamps = tuple(Path(path).stat().st_mtime_ns for _, path in items)
    except OSError as exc:
        raise MarketDataInvalid(f"replay_files: cannot read: {exc}") from None
    return _replay_feed_cached(items, stamps)


def replay(
    candles: Sequence[Candle],
    *,
    speed: float = 0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Candle]:
    """Yield `candles` paced at `speed` times real time (60 plays one-minute candles one per
    second); speed 0 replays as fast as the consumer reads."""
    if speed < 0:
        raise MarketDataInvalid(f"speed: must be 0 (as fast as possible) or positive, got {speed}")
    previous = None
    for candle in candles:
        if speed and previous is not None:
            sleep((candle.ts - previous.ts).total_seconds() / speed)
        previous = candle
        yield candle
