from decimal import Decimal

import pytest

from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory
from trading.exchanges.emulator import ExchangeEmulator
from trading.exchanges.live import LiveExchange, RetryPolicy, binance_client
from trading.models import TradingMode

API_KEY, SECRET = "emulator-test-key", "emulator-test-secret"
FAST_RETRY = RetryPolicy(attempts=4, base_seconds=0.001, cap_seconds=0.01)


@pytest.fixture
def emulator():
    with ExchangeEmulator() as emulator:
        emulator.state.account_add(
            api_key=API_KEY, secret=SECRET, balances={"USDT": Decimal("100000"), "BTC": Decimal("1")}
        )
        emulator.state.price_set("BTCUSDT", Decimal("60000"))
        emulator.state.price_set("ETHUSDT", Decimal("3000"))
        yield emulator


@pytest.fixture
def client(emulator):
    """ccxt's own binance client, pointed at the emulator."""
    return binance_client(api_key=API_KEY, secret=SECRET, base_url=emulator.url, timeout_ms=1000, rate_limit_ms=1)


@pytest.fixture
def adapter(client):
    return LiveExchange(client=client, retry=FAST_RETRY)


@pytest.fixture
def live_account():
    """A LIVE account on the emulator's exchange (binance) with an active policy."""
    account = TradingAccountFactory(mode=TradingMode.LIVE, exchange_id="binance", symbols=["BTC/USDT"])
    active_policy(account)
    return account


@pytest.fixture
def live_adapter(client, live_account):
    return LiveExchange(client=client, retry=FAST_RETRY, account_id=live_account.pk)


@pytest.fixture
def bnb_fees(emulator):
    """The exchange account pays its fees in BNB, at 600 USDT a BNB."""
    emulator.state.fee_asset = "BNB"
    emulator.state.price_set("BNBUSDT", Decimal("600"))
    with emulator.state.lock:
        emulator.state.accounts[API_KEY].free["BNB"] = Decimal("10")
    return emulator
