"""SPEC T1b/c: OHLCV replay from CSV and ccxt JSON, polling through ccxt, idempotent storage."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import ccxt
import pytest
from django.core.management import CommandError, call_command

from trading.models import Candle, Ticker
from trading.polling import PollingFeed, ohlcv_rows_candles, ticker_from_ccxt
from trading.replay import MarketDataInvalid, ReplayFeed, ohlcv_load, ohlcv_parse, replay
from trading.services.marketdata import candles_store

T0 = 1_700_000_000_000
GOOD_CSV = (
    "timestamp,open,high,low,close,volume\n"
    f"{T0},37000.10,37010.00,36990.00,37005.55,12.345\n"
    f"{T0 + 60_000},37005.55,37020.00,37000.00,37015.00,8.1\n"
    "2023-11-14T22:15:20+00:00,37015.00,37030.00,37001.00,37025.00,3\n"
)
# One row per line, as `[ts, o, h, l, c, v]` dumps usually are.
ROWS = [[T0 + i * 60_000, 100 + i, 101 + i, 99 + i, 100.5 + i, 10] for i in range(5)]
GOOD_JSON = "[\n" + ",\n".join(json.dumps(row) for row in ROWS) + "\n]"


def test_csv_and_ccxt_json_give_exact_decimal_candles():
    csv_candles = ohlcv_parse(GOOD_CSV, fmt="csv")
    assert [c.close for c in csv_candles] == [Decimal("37005.55"), Decimal("37015.00"), Decimal("37025.00")]
    assert csv_candles[0].ts == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert csv_candles[2].ts == datetime(2023, 11, 14, 22, 15, 20, tzinfo=UTC)
    json_candles = ohlcv_parse(GOOD_JSON, fmt="json")
    assert len(json_candles) == 5 and json_candles[4].close == Decimal("104.5")


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        (GOOD_CSV + f"{T0 + 240_000},1,2,0.5,1.5\n", "csv", "line 5: expected 6 fields"),
        (GOOD_CSV.replace("37015.00,8.1", "abc,8.1"), "csv", "line 3: close is not a number: 'abc'"),
        (GOOD_CSV.replace("37005.55,12.345", "NaN,12.345"), "csv", "line 2: close is not finite"),
        (GOOD_CSV.replace("37005.55,12.345", "-1,12.345"), "csv", "line 2: close must be positive"),
        (GOOD_CSV.replace("37005.55,12.345", "37005.55,-1"), "csv", "line 2: volume must not be negative"),
        (GOOD_CSV.replace("37010.00,36990.00,37005.55", "37000.00,36990.00,37005.55"), "csv", "line 2: high"),
        (GOOD_CSV.replace(f"{T0 + 60_000},", f"{T0},"), "csv", "line 3: timestamp"),
        (GOOD_CSV.replace("2023-11-14T22:15:20+00:00", "2023-11-14T22:15:20"), "csv", "line 4: timestamp has no"),
        ("ts,o,h,l,c,v\n", "csv", "line 1: header must be"),
        ("", "csv", "no OHLCV rows"),
        (GOOD_JSON.replace("[1700000120000", '["x"'), "json", "line 4: timestamp is neither"),
        ('[[1700000000000, 1, 2, 0.5, 1.5, 1],\n {"a": 1}]', "json", "line 2: a row must be a list"),
        ("[[1700000000000, 1, 2, 0.5, 1.5, 1],\n [1, 2", "json", "line 2: invalid JSON"),
        ('{"rows": []}', "json", "line 1: expected a JSON list"),
        (GOOD_CSV, "xml", "format: 'xml' is not csv or json"),
    ],
)
def test_a_malformed_file_is_refused_with_the_line_and_the_reason(text, fmt, message):
    with pytest.raises(MarketDataInvalid, match=message.replace("(", r"\(")):
        ohlcv_parse(text, fmt=fmt)


def test_replay_paces_at_the_requested_speed_and_zero_means_unpaced():
    candles = ohlcv_parse(GOOD_JSON, fmt="json")
    slept = []
    assert list(replay(candles, speed=60, sleep=slept.append)) == candles
    assert slept == [1.0] * 4  # one-minute candles at 60x: one per second
    slept.clear()
    assert list(replay(candles, speed=0, sleep=slept.append)) == candles and slept == []
    with pytest.raises(MarketDataInvalid, match="speed"):
        list(replay(candles, speed=-1))


def test_replay_feed_has_the_scenario_feed_interface(tmp_path):
    (tmp_path / "btc.json").write_text(GOOD_JSON)
    feed = ReplayFeed.from_files({"BTC/USDT": tmp_path / "btc.json"}, source="replay:test")
    assert len(feed) == 5 and feed.candle("BTC/USDT", 4).close == Decimal("104.5")
    assert feed.candle("BTC/USDT", 5) is None  # past the end: no data, like an outage
    assert list(feed.closes("BTC/USDT", end=3, length=2)) == [102.5, 103.5]
    ticker = feed.ticker("BTC/USDT", 0)
    assert ticker.bid < ticker.last < ticker.ask and feed.ts_of(1) == feed.candle("BTC/USDT", 1).ts


@pytest.mark.django_db
def test_storing_candles_twice_stores_them_once(tmp_path):
    candles = ohlcv_parse(GOOD_CSV, fmt="csv")
    assert candles_store(source="file", symbol="BTC/USDT", timeframe="1m", candles=candles) == 3
    assert candles_store(source="file", symbol="BTC/USDT", timeframe="1m", candles=candles) == 0
    assert candles_store(source="file", symbol="BTC/USDT", timeframe="5m", candles=candles) == 3
    assert Candle.objects.filter(source="file").count() == 6


@pytest.mark.django_db
def test_the_import_command_refuses_a_bad_file_whole_and_stores_a_good_one_idempotently(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD_CSV + "oops\n")
    with pytest.raises(CommandError, match=r"bad\.csv: line 5"):
        call_command("market_data_import", str(bad), symbol="BTC/USDT")
    assert not Candle.objects.exists()
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV)
    call_command("market_data_import", str(good), symbol="BTC/USDT")
    call_command("market_data_import", str(good), symbol="BTC/USDT")
    assert Candle.objects.filter(symbol="BTC/USDT", source="replay").count() == 3
    assert ohlcv_load(good)[0].volume == Decimal("12.345")


# Polling: until the exchange emulator lands, ccxt's own binance parser turns stored raw
# responses into what fetch_ohlcv/fetch_ticker return; the storage path is the real one.
BINANCE_KLINES = [
    [T0, "37000.10", "37010.00", "36990.00", "37005.55", "12.345", T0 + 59_999, "1", 100, "1", "1", "0"],
    [T0 + 60_000, "37005.55", "37020.00", "37000.00", "37015.00", "8.1", T0 + 119_999, "1", 10, "1", "1", "0"],
    [T0 + 120_000, "37015.00", "37030.00", "37001.00", "0", "3", T0 + 179_999, "1", 10, "1", "1", "0"],
]
BINANCE_TICKER = {
    "symbol": "BTCUSDT", "lastPrice": "37005.55", "bidPrice": "37005.50", "askPrice": "37005.60",
    "volume": "1234.5", "quoteVolume": "45000000", "openPrice": "36000", "highPrice": "37100",
    "lowPrice": "35900", "openTime": T0 - 86_400_000, "closeTime": T0,
}  # fmt: skip
BTC_MARKET = {"symbol": "BTC/USDT", "id": "BTCUSDT", "type": "spot", "spot": True, "base": "BTC", "quote": "USDT"}


@pytest.mark.django_db
def test_polled_ohlcv_is_stored_once_and_a_bad_row_is_skipped():
    rows = ccxt.binance().parse_ohlcvs(BINANCE_KLINES, None, "1m")
    feed = PollingFeed(ccxt.binance())
    assert feed.store_ohlcv("BTC/USDT", rows) == 2  # the zero close is not stored
    assert feed.store_ohlcv("BTC/USDT", rows + rows) == 0
    stored = Candle.objects.get(source="binance", ts=datetime.fromtimestamp(T0 / 1000, tz=UTC))
    assert stored.close == Decimal("37005.55") and stored.volume == Decimal("12.345")
    assert [c.close for c in ohlcv_rows_candles(list(reversed(rows)), name="x")] == [
        Decimal("37005.55"),
        Decimal("37015.0"),
    ]


@pytest.mark.django_db
def test_a_polled_ticker_becomes_exact_decimals_and_a_broken_one_names_the_field():
    unified = ccxt.binance().parse_ticker(BINANCE_TICKER, BTC_MARKET)
    ticker = ticker_from_ccxt(unified, name="binance BTC/USDT")
    assert (ticker.bid, ticker.ask, ticker.last) == (Decimal("37005.5"), Decimal("37005.6"), Decimal("37005.55"))
    from trading.services.marketdata import tickers_store

    tickers_store(source="binance", tickers={"BTC/USDT": ticker})
    tickers_store(source="binance", tickers={"BTC/USDT": ticker})
    assert Ticker.objects.get(source="binance").last == Decimal("37005.55")
    with pytest.raises(MarketDataInvalid, match="ticker: last must be positive"):
        ticker_from_ccxt({**unified, "last": 0, "close": 0}, name="binance BTC/USDT")
    with pytest.raises(MarketDataInvalid, match="ticker: timestamp is missing"):
        ticker_from_ccxt({**unified, "timestamp": None}, name="binance BTC/USDT")
