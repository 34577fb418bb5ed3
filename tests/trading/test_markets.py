import copy
from decimal import Decimal

import ccxt
import pytest

from trading.markets import (
    UnknownMarket,
    ccxt_markets_parse,
    exchange_info_document,
    market_from_ccxt,
    market_get,
    markets_all,
)


def test_markets_come_from_the_stored_binance_document():
    document = exchange_info_document()
    ids = {s["symbol"] for s in document["symbols"]}
    assert {m.id for m in markets_all().values()} == ids
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= set(markets_all())


def test_btc_usdt_precision_and_limits_are_binance_filters_as_decimals():
    btc = market_get("BTC/USDT")
    assert (btc.id, btc.base, btc.quote) == ("BTCUSDT", "BTC", "USDT")
    assert btc.price_step == Decimal("0.01")  # PRICE_FILTER tickSize
    assert btc.amount_step == Decimal("0.00001")  # LOT_SIZE stepSize
    assert btc.min_amount == Decimal("0.00001") and btc.max_amount == Decimal("9000")
    assert btc.min_notional == Decimal("5") and btc.max_notional == Decimal("9000000")  # NOTIONAL
    assert btc.taker_fee == btc.maker_fee == Decimal("0.001")
    for value in (btc.price_step, btc.amount_step, btc.min_amount, btc.min_notional, btc.taker_fee):
        assert isinstance(value, Decimal)


def test_small_tick_markets_keep_their_exact_steps():
    assert market_get("DOGE/USDT").price_step == Decimal("0.00001")
    assert market_get("DOGE/USDT").amount_step == Decimal("1")
    assert market_get("XRP/USDT").amount_step == Decimal("0.1")
    assert market_get("ETH/BTC").min_notional == Decimal("0.0001")


def test_the_parse_is_ccxts_not_a_table():
    # Change the document's filters: the parsed market follows, so nothing is hand-typed.
    document = copy.deepcopy(exchange_info_document())
    btc = next(s for s in document["symbols"] if s["symbol"] == "BTCUSDT")
    for f in btc["filters"]:
        if f["filterType"] == "PRICE_FILTER":
            f["tickSize"] = "0.10000000"
        if f["filterType"] == "NOTIONAL":
            f["minNotional"] = "10.00000000"
    parsed = {m["symbol"]: m for m in ccxt_markets_parse(document)}
    market = market_from_ccxt(ccxt.binance(), parsed["BTC/USDT"])
    assert market.price_step == Decimal("0.1")
    assert market.min_notional == Decimal("10")


def test_rounding_follows_the_market_steps():
    eth = market_get("ETH/USDT")
    assert eth.floor_amount(Decimal("0.123456")) == Decimal("0.1234")
    assert eth.round_price(Decimal("3000.001"), up=True) == Decimal("3000.01")
    assert eth.round_price(Decimal("3000.009"), up=False) == Decimal("3000.00")


def test_unknown_market_names_the_known_ones():
    with pytest.raises(UnknownMarket, match=r"unknown market 'FOO/USDT'; known: .*BTC/USDT"):
        market_get("FOO/USDT")
