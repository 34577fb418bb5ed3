"""The live adapter through the real ccxt client against the exchange emulator."""

from decimal import Decimal

import pytest

from compliance.models import AuditEvent
from compliance.services import Actor
from risk.models import CircuitBreakerState
from tests.trading.conftest import API_KEY, FAST_RETRY, SECRET
from tests.trading.factories import TradingAccountFactory
from trading.exceptions import (
    ExchangeAuthFailed,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderStateUnknown,
)
from trading.exchanges.live import LiveExchange, binance_client, live_exchange_for
from trading.models import ExchangeCredential
from trading.services.credentials import credential_fingerprint, credential_store


def posts(emulator):
    return sum(1 for r in emulator.state.requests if r == ("POST", "order"))


def test_a_market_order_comes_back_in_decimals_with_its_client_order_id(adapter):
    order = adapter.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.01"), client_order_id="gen-1")
    assert (order.client_order_id, order.status, order.filled) == ("gen-1", "filled", Decimal("0.01"))
    assert order.average == Decimal("60030") and order.fee == Decimal("0.6003") and order.fee_currency == "USDT"
    (trade,) = order.trades
    assert (trade.price, trade.amount, trade.fee) == (Decimal("60030"), Decimal("0.01"), Decimal("0.6003"))
    assert adapter.fetch_order(symbol="BTC/USDT", client_order_id="gen-1").id == order.id
    assert [t.id for t in adapter.order_trades(symbol="BTC/USDT", order_id=order.id)] == [trade.id]


def test_markets_balance_ticker_and_ohlcv_in_decimals(adapter):
    assert adapter.load_markets()["ETH/USDT"].amount_step == Decimal("0.0001")
    assert adapter.balance()["USDT"] == (Decimal("100000"), Decimal("0"))
    ticker = adapter.ticker("BTC/USDT")
    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (Decimal("60000"), Decimal("59970"), Decimal("60030"))
    assert adapter.ohlcv("BTC/USDT")[0][4] == Decimal("60000")


@pytest.mark.parametrize(
    ("amount", "error"),
    [(Decimal("100"), InsufficientFunds), (Decimal("0.00001"), InvalidOrder), (Decimal("10000"), InvalidOrder)],
)
def test_rejections_are_mapped_and_never_retried(adapter, emulator, amount, error):
    with pytest.raises(error):
        adapter.create_order(symbol="BTC/USDT", side="buy", amount=amount, client_order_id="rej")
    assert posts(emulator) == 1


def test_not_found_and_bad_credentials_are_mapped(adapter, client):
    with pytest.raises(OrderNotFound):
        adapter.fetch_order(symbol="BTC/USDT", client_order_id="never")
    client.secret = "wrong"
    with pytest.raises(ExchangeAuthFailed, match="Signature"):
        adapter.balance()


def test_retryable_errors_are_retried_with_backoff(adapter, emulator):
    emulator.state.inject("status", path="account", status=503, times=2)
    slept = []
    adapter.sleep = slept.append
    assert adapter.balance()["USDT"][0] == Decimal("100000")
    assert emulator.state.requests.count(("GET", "account")) == 3
    assert len(slept) == 2 and all(0 <= s <= FAST_RETRY.cap_seconds for s in slept)


def test_retries_stop_after_the_configured_attempts(adapter, emulator):
    emulator.state.inject("status", path="account", status=502, times=10)
    with pytest.raises(ExchangeUnavailable):
        adapter.balance()
    assert emulator.state.requests.count(("GET", "account")) == FAST_RETRY.attempts


def test_a_rate_limited_submit_is_resent_once_allowed(adapter, emulator):
    emulator.state.inject("status", path="order", method="POST", status=429)
    order = adapter.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.001"), client_order_id="rl-1")
    assert order.status == "filled"
    assert posts(emulator) == 2 and len(emulator.state.orders_with_client_id("rl-1")) == 1


def test_a_lost_submit_answer_is_settled_by_client_order_id_without_a_second_order(adapter, emulator):
    emulator.state.inject("drop_response", path="order", method="POST")
    order = adapter.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.001"), client_order_id="lost-1")
    assert order.status == "filled" and order.client_order_id == "lost-1"
    assert posts(emulator) == 1 and len(emulator.state.orders_with_client_id("lost-1")) == 1


def test_a_lost_answer_the_exchange_then_denies_is_left_to_reconciliation(adapter, emulator):
    emulator.state.inject("drop_response", path="order", method="POST")
    emulator.state.inject("not_found", path="order", method="GET")
    with pytest.raises(OrderStateUnknown, match=r"lost-2 .* left to reconciliation"):
        adapter.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.001"), client_order_id="lost-2")
    assert posts(emulator) == 1 and len(emulator.state.orders_with_client_id("lost-2")) == 1


def test_a_submit_refused_with_5xx_is_not_resent_blindly(adapter, emulator):
    emulator.state.inject("status", path="order", method="POST", status=503)
    with pytest.raises(OrderStateUnknown):
        adapter.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.001"), client_order_id="5xx-1")
    assert posts(emulator) == 1 and emulator.state.orders_with_client_id("5xx-1") == []


def test_a_duplicate_of_our_own_open_order_returns_that_order(adapter, emulator):
    first = adapter.create_order(
        symbol="BTC/USDT",
        side="buy",
        amount=Decimal("0.01"),
        client_order_id="lim-1",
        order_type="limit",
        price=Decimal("50000"),
    )
    again = adapter.create_order(
        symbol="BTC/USDT",
        side="buy",
        amount=Decimal("0.01"),
        client_order_id="lim-1",
        order_type="limit",
        price=Decimal("50000"),
    )
    assert again.id == first.id and again.status == "submitted"
    assert len(emulator.state.orders_with_client_id("lim-1")) == 1


def test_cancel_by_client_order_id_is_idempotent(adapter):
    adapter.create_order(
        symbol="ETH/USDT",
        side="buy",
        amount=Decimal("0.1"),
        client_order_id="c-1",
        order_type="limit",
        price=Decimal("2900"),
    )
    assert [o.client_order_id for o in adapter.open_orders()] == ["c-1"]
    assert adapter.cancel_order(symbol="ETH/USDT", client_order_id="c-1").status == "cancelled"
    assert adapter.cancel_order(symbol="ETH/USDT", client_order_id="c-1").status == "cancelled"
    assert adapter.open_orders("ETH/USDT") == []


@pytest.mark.django_db
def test_exchange_failures_trip_the_exchange_status_breaker(client, emulator):
    account = TradingAccountFactory()
    adapter = LiveExchange(client=client, account_id=account.pk, retry=FAST_RETRY)
    emulator.state.inject("status", path="account", status=503, times=8)
    for _ in range(2):
        with pytest.raises(ExchangeUnavailable):
            adapter.balance()  # 4 attempts each: 8 failures, the default threshold is 5
    states = {b.source: b.state for b in CircuitBreakerState.objects.filter(account=account)}
    assert states["exchange_status"] == "open" and states["consecutive_api_errors"] == "open"
    assert AuditEvent.objects.filter(action="breaker.opened").count() >= 2


@pytest.mark.django_db
def test_credentials_are_encrypted_at_rest_audited_and_used_for_the_session(emulator):
    account = TradingAccountFactory()
    actor = Actor.system("test")
    credential_store(account=account, api_key=API_KEY, secret=SECRET, actor=actor)
    row = ExchangeCredential.objects.get(account=account)
    assert API_KEY not in row.api_key_encrypted and SECRET not in row.secret_encrypted
    assert API_KEY not in str(row) and SECRET not in repr(row)
    adapter = live_exchange_for(account_id=account.pk, actor=actor, base_url=emulator.url, retry=FAST_RETRY)
    assert adapter.balance()["USDT"][0] == Decimal("100000")
    assert adapter.budget.key == credential_fingerprint(API_KEY)
    events = AuditEvent.objects.filter(action__startswith="credential.").order_by("sequence")
    assert [e.action for e in events] == ["credential.stored", "credential.accessed"]
    for event in events:
        assert API_KEY not in str(event.payload) and SECRET not in str(event.payload)


def test_blank_credentials_are_refused():
    with pytest.raises(ValueError, match="api_key and secret"):
        credential_store(account=None, api_key=" ", secret="x", actor=Actor.system("test"))


def test_the_client_never_leaves_loopback(emulator):
    client = binance_client(base_url=emulator.url)
    assert all(url.startswith(emulator.url) for url in client.urls["api"].values())


@pytest.mark.django_db
def test_credentials_survive_a_key_rotation_after_the_old_key_is_removed(capsys):
    from cryptography.fernet import Fernet
    from django.core.management import call_command
    from django.test import override_settings

    from genesis_site.secrets import SecretDecryptError
    from trading.services.credentials import credential_load

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    actor = Actor.system("test")
    accounts = [TradingAccountFactory() for _ in range(3)]
    with override_settings(GENESIS_FERNET_KEYS=[old]):
        for i, account in enumerate(accounts):
            credential_store(account=account, api_key=f"key-{i}", secret=f"secret-{i}", actor=actor)
    with override_settings(GENESIS_FERNET_KEYS=[new, old]):
        call_command("rotate_exchange_credentials")
    assert "re-encrypted 3 exchange credentials" in capsys.readouterr().out
    with override_settings(GENESIS_FERNET_KEYS=[new]):
        for i, account in enumerate(accounts):
            _, api_key, secret = credential_load(account_id=account.pk, actor=actor, purpose="test")
            assert (api_key, secret) == (f"key-{i}", f"secret-{i}")
    with override_settings(GENESIS_FERNET_KEYS=[old]), pytest.raises(SecretDecryptError):
        credential_load(account_id=accounts[0].pk, actor=actor, purpose="test")
    assert AuditEvent.objects.get(action="credential.rotated").payload == {"credentials": 3}


def test_the_rate_budget_holds_reads_back_while_cancels_still_go(client, emulator):
    from trading.exceptions import RateLimited
    from trading.exchanges.ratelimit import RateBudget

    # 60 weight, half reserved for cancels, refilling too slowly to matter here.
    budget = RateBudget(key="adapter-test", capacity=60, per_seconds=60000, cancel_reserve=0.5, max_wait=0.02)
    adapter = LiveExchange(client=client, budget=budget, retry=FAST_RETRY)
    adapter.create_order(
        symbol="BTC/USDT",
        side="buy",
        amount=Decimal("0.01"),
        client_order_id="rb-1",
        order_type="limit",
        price=Decimal("50000"),
    )  # exchangeInfo 20 + order 1: 39 left
    with pytest.raises(RateLimited, match="budget of key adapter-test exhausted"):
        adapter.balance()  # weight 20 would leave 19, under the 30 reserved for cancels
    assert ("GET", "account") not in emulator.state.requests
    assert adapter.cancel_order(symbol="BTC/USDT", client_order_id="rb-1").status == "cancelled"


def test_amounts_and_prices_off_the_market_grid_are_refused_before_sending(adapter, emulator):
    with pytest.raises(InvalidOrder, match=r"amount 0\.000015 BTC is off the lot step 0\.00001"):
        adapter.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.000015"), client_order_id="grid-1")
    with pytest.raises(InvalidOrder, match=r"price 50000\.005 is off the tick 0\.01"):
        adapter.create_order(
            symbol="BTC/USDT",
            side="buy",
            amount=Decimal("0.01"),
            client_order_id="grid-2",
            order_type="limit",
            price=Decimal("50000.005"),
        )
    with pytest.raises(InvalidOrder, match="unknown market 'FOO/USDT'"):
        adapter.create_order(symbol="FOO/USDT", side="buy", amount=Decimal("1"), client_order_id="grid-3")
    assert posts(emulator) == 0


@pytest.mark.django_db
def test_slow_answers_and_rejected_orders_feed_their_own_breakers(client, emulator):
    account = TradingAccountFactory()
    adapter = LiveExchange(client=client, account_id=account.pk, retry=FAST_RETRY, latency_limit=0.02)
    emulator.state.inject("latency", path="account", delay=0.05, times=5)
    for _ in range(5):
        adapter.balance()  # answers, but slower than the limit
    for i in range(5):
        with pytest.raises(InsufficientFunds):
            adapter.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("100"), client_order_id=f"poor-{i}")
    states = {b.source: b.state for b in CircuitBreakerState.objects.filter(account=account)}
    assert states["latency"] == "open" and states["order_rejection_burst"] == "open"
    # The exchange itself was fine all along: rejections are not API errors.
    assert states["exchange_status"] == states["consecutive_api_errors"] == "closed"


@pytest.mark.django_db
def test_live_mode_needs_stored_credentials():
    from trading.services.accounts import live_blockers

    account = TradingAccountFactory(exchange_id="binance")
    assert "no exchange credentials stored for binance (trading.services.credentials)" in live_blockers(account)
    credential_store(account=account, api_key="k", secret="s", actor=Actor.system("test"))
    assert not any("credentials" in reason for reason in live_blockers(account))
