"""The unmodified ccxt binance client against the exchange emulator on loopback."""

from decimal import Decimal

import ccxt
import pytest

from tests.trading.conftest import API_KEY
from trading.exchanges.emulator import main as emulator_main
from trading.exchanges.live import binance_client
from trading.markets import exchange_info_document, market_from_ccxt, market_get


def test_ccxt_loads_the_same_markets_from_the_emulator(client):
    markets = client.load_markets()
    assert set(markets) == {f"{s['baseAsset']}/{s['quoteAsset']}" for s in exchange_info_document()["symbols"]}
    assert market_from_ccxt(client, markets["BTC/USDT"]) == market_get("BTC/USDT")


def test_balance_ticker_and_klines(client, emulator):
    balance = client.fetch_balance()
    assert balance["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
    ticker = client.fetch_ticker("BTC/USDT")
    assert (ticker["last"], ticker["ask"], ticker["bid"]) == (60000.0, 60030.0, 59970.0)
    emulator.state.price_set("BTCUSDT", Decimal("60100"))
    (bar,) = client.fetch_ohlcv("BTC/USDT", "1m")
    assert bar[1:5] == [60000.0, 60100.0, 60000.0, 60100.0]


def test_market_order_fills_with_client_order_id_fee_and_trades(client, emulator):
    order = client.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "gen-abc"})
    assert (order["clientOrderId"], order["status"], order["filled"], order["average"]) == (
        "gen-abc",
        "closed",
        0.01,
        60030.0,
    )
    assert order["fee"] == {"currency": "USDT", "cost": 0.6003}
    (trade,) = client.fetch_my_trades("BTC/USDT")
    assert trade["order"] == order["id"] and trade["price"] == 60030.0
    balance = client.fetch_balance()
    assert balance["USDT"]["free"] == pytest.approx(100000 - 600.3 - 0.6003)
    assert balance["BTC"]["free"] == pytest.approx(1.01)


def test_with_buy_fee_in_base_a_buy_pays_its_fee_in_the_coins_received_and_a_sell_in_quote(client, emulator):
    emulator.state.buy_fee_in_base = True
    order = client.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "gen-b"})
    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}  # 0.1 % of 0.01 BTC
    (trade,) = client.fetch_my_trades("BTC/USDT")
    assert trade["fee"] == {"currency": "BTC", "cost": 0.00001}
    free = emulator.state.accounts[API_KEY].free
    assert (free["USDT"], free["BTC"]) == (Decimal("100000") - Decimal("600.3"), Decimal("1.00999"))
    # A limit buy filled as maker pays the maker rate in coins, rounded up to 8 decimals.
    client.create_order("BTC/USDT", "limit", "buy", 0.00123, 59000, {"newClientOrderId": "lim-b"})
    emulator.state.price_set("BTCUSDT", Decimal("58990"))
    fetched = client.fetch_order(None, "BTC/USDT", {"origClientOrderId": "lim-b"})
    assert fetched["status"] == "closed"
    maker = client.fetch_my_trades("BTC/USDT")[-1]
    assert maker["takerOrMaker"] == "maker" and maker["fee"]["currency"] == "BTC"
    assert maker["fee"]["cost"] == pytest.approx(0.00000123)  # 0.00123 x 0.1 % = 0.00000123
    assert free["BTC"] == Decimal("1.00999") + Decimal("0.00123") - Decimal("0.00000123")
    sold = client.create_order("BTC/USDT", "market", "sell", 0.01, None, {"newClientOrderId": "gen-s"})
    assert sold["fee"]["currency"] == "USDT"


def test_limit_order_rests_locks_funds_fills_as_maker_when_crossed(client, emulator):
    order = client.create_order("BTC/USDT", "limit", "buy", 0.01, 59000, {"newClientOrderId": "lim-1"})
    assert order["status"] == "open"
    assert [o["clientOrderId"] for o in client.fetch_open_orders("BTC/USDT")] == ["lim-1"]
    assert client.fetch_balance()["USDT"]["used"] == 590.0
    emulator.state.price_set("BTCUSDT", Decimal("58990"))
    fetched = client.fetch_order(None, "BTC/USDT", {"origClientOrderId": "lim-1"})
    assert fetched["status"] == "closed" and fetched["average"] == 59000.0
    (trade,) = client.fetch_my_trades("BTC/USDT")
    assert trade["takerOrMaker"] == "maker" and trade["fee"]["cost"] == 0.59


def test_cancel_by_client_order_id_unlocks_funds(client):
    client.create_order("ETH/USDT", "limit", "buy", 0.1, 2900, {"newClientOrderId": "lim-2"})
    assert client.fetch_balance()["USDT"]["used"] == 290.0
    cancelled = client.cancel_order(None, "ETH/USDT", {"origClientOrderId": "lim-2"})
    assert cancelled["status"] == "canceled" and cancelled["clientOrderId"] == "lim-2"
    assert client.fetch_balance()["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
    assert client.fetch_open_orders("ETH/USDT") == []
    with pytest.raises(ccxt.OrderNotFound):  # Binance: -2011 Unknown order sent.
        client.cancel_order(None, "ETH/USDT", {"origClientOrderId": "lim-2"})
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order("ETH/USDT", "limit", "sell", 1, 3500)  # no ETH held


def test_errors_are_binance_errors(client):
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order("BTC/USDT", "market", "buy", 100, None)
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        client.create_order("BTC/USDT", "market", "buy", 0.00001, None)
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        client.create_order("BTC/USDT", "market", "buy", 10000, None)  # maxQty 9000
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, "BTC/USDT", {"origClientOrderId": "never-sent"})


def test_a_duplicate_open_client_order_id_is_refused(client):
    client.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, {"newClientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, {"newClientOrderId": "dup-1"})


def test_signatures_and_api_keys_are_verified(client):
    client.secret = "not-the-secret"
    with pytest.raises(ccxt.AuthenticationError, match="Signature for this request is not valid"):
        client.fetch_balance()
    client.apiKey = "unknown-key"
    with pytest.raises(ccxt.AuthenticationError, match="Invalid API-key"):
        client.fetch_balance()


@pytest.mark.parametrize(
    ("kind", "kwargs", "error"),
    [
        ("status", {"status": 429}, ccxt.DDoSProtection),
        ("status", {"status": 503}, ccxt.OperationFailed),
        ("timeout", {"delay": 0.4}, ccxt.RequestTimeout),
        ("drop_response", {}, ccxt.NetworkError),
    ],
)
def test_injected_faults(client, emulator, kind, kwargs, error):
    emulator.state.inject(kind, path="order", method="POST", **kwargs)
    client.timeout = 250
    with pytest.raises(error):
        client.create_order("BTC/USDT", "market", "buy", 0.001, None, {"newClientOrderId": f"fault-{kind}"})
    placed = emulator.state.orders_with_client_id(f"fault-{kind}")
    # Only a lost response means the exchange acted: the order exists though the client never heard.
    assert len(placed) == (1 if kind == "drop_response" else 0)


def test_latency_fault_delays_but_answers(client, emulator):
    emulator.state.inject("latency", path="account", delay=0.05)
    assert client.fetch_balance()["USDT"]["free"] == 100000.0


def test_not_found_fault_denies_an_existing_order(client, emulator):
    client.create_order("BTC/USDT", "market", "buy", 0.001, None, {"newClientOrderId": "denied"})
    emulator.state.inject("not_found", path="order", method="GET", times=2)
    for _ in range(2):
        with pytest.raises(ccxt.OrderNotFound):
            client.fetch_order(None, "BTC/USDT", {"origClientOrderId": "denied"})
    assert client.fetch_order(None, "BTC/USDT", {"origClientOrderId": "denied"})["status"] == "closed"


def test_request_weight_over_the_minute_limit_gets_429(client, emulator):
    emulator.state._weights.append((__import__("time").monotonic(), 5995))
    with pytest.raises(ccxt.DDoSProtection):
        client.fetch_balance()  # weight 20


def test_standalone_entrypoint_refuses_bad_arguments():
    with pytest.raises(SystemExit, match="--balance: expected NAME=NUMBER"):
        emulator_main(["--port", "0", "--balance", "USDT"])


def test_the_control_endpoints_move_prices_and_inject_faults(client, emulator):
    import httpx

    answer = httpx.post(f"{emulator.url}/_emulator/price", json={"symbol": "BTCUSDT", "price": "61000.5"})
    assert answer.status_code == 200 and answer.json()["prices"]["BTCUSDT"] == "61000.5"
    assert client.fetch_ticker("BTC/USDT")["last"] == 61000.5
    assert httpx.post(f"{emulator.url}/_emulator/fault", json={"kind": "status", "status": 503}).status_code == 200
    with pytest.raises(ccxt.OperationFailed):
        client.fetch_ticker("BTC/USDT")
    bad = httpx.post(f"{emulator.url}/_emulator/fault", json={"kind": "meteor"})
    assert bad.status_code == 400 and "unknown fault 'meteor'" in bad.json()["error"]
    assert httpx.post(f"{emulator.url}/_emulator/price", json={"symbol": "BTCUSDT"}).status_code == 400


def test_the_command_line_fee_asset_charges_every_fee_in_that_asset():
    """`--fee-asset BNB` (python -m trading.exchanges.emulator, as an operator starts it): a buy
    of 0.01 BTC at 60030 pays 0.1 % of 600.30 USDT = 0.6003 USDT as 0.0010005 BNB at 600."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "trading.exchanges.emulator", "--port", "0", "--api-key", "k", "--secret", "s"]
    command += ["--balance", "USDT=1000", "--balance", "BNB=1", "--price", "BTCUSDT=60000", "--price", "BNBUSDT=600"]
    server = subprocess.Popen([*command, "--fee-asset", "BNB"], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split(" at ")[1].split("/api/v3")[0]
        client = binance_client(api_key="k", secret="s", base_url=url, timeout_ms=2000, rate_limit_ms=1)
        order = client.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "gen-cli-bnb"})
        assert order["fee"] == {"currency": "BNB", "cost": 0.0010005}
        balance = client.fetch_balance()
        assert (balance["BNB"]["free"], balance["USDT"]["free"]) == (0.9989995, pytest.approx(1000 - 600.3))
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_command_line_fee_asset_is_documented_and_refused_without_its_price(capsys):
    with pytest.raises(SystemExit):
        emulator_main(["--help"])
    assert "--fee-asset ASSET" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--fee-asset BNB: give its price against the quote"):
        emulator_main(["--port", "0", "--price", "BTCUSDT=60000", "--fee-asset", "BNB"])
    with pytest.raises(SystemExit, match="--fee-asset: expected an asset code such as BNB, got 'bnb'"):
        emulator_main(["--port", "0", "--price", "BNBUSDT=600", "--fee-asset", "bnb"])
