"""LIVE accounts through the engine tick, end to end: the real ccxt client against the
exchange emulator on loopback (SPEC T5, T7, T8)."""

import time
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import override_settings

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor
from tests.risk.factories import active_policy
from tests.trading.conftest import API_KEY, SECRET
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import Candle, Fill, Order, Position, StopLevel, TradingAccount, TradingMode
from trading.services.credentials import credential_store
from trading.services.engine import engine_tick
from trading.services.reconcile import reconcile_account
from trading.tasks import engine_tick_task

pytestmark = pytest.mark.django_db
START = Decimal("100000")


def rising_market(emulator, symbol_id="BTCUSDT", bars=30):
    """Thirty closed one-minute klines climbing 50 a minute, then the current price: the
    moving-average crossover strategy enters on it."""
    now_minute = int(time.time() // 60 * 60_000)
    with emulator.state.lock:
        emulator.state.candles[symbol_id] = [
            [now_minute - (bars - i) * 60_000, *(Decimal(59_000 + 50 * i),) * 4, Decimal("10")] for i in range(bars)
        ]
    emulator.state.price_set(symbol_id, Decimal(59_000 + 50 * bars))


@pytest.fixture
def live_account():
    account = TradingAccountFactory(mode=TradingMode.LIVE, exchange_id="binance", symbols=["BTC/USDT"])
    StrategyFactory(account=account)
    active_policy(account)
    return account


def posts(emulator):
    return emulator.state.requests.count(("POST", "order"))


def order_actions(order):
    return list(
        AuditEvent.objects.filter(object_type="trading.order", object_id=str(order.pk))
        .order_by("sequence")
        .values_list("action", "correlation_id")
    )


def test_a_live_tick_places_the_order_on_the_exchange_by_client_order_id_and_books_the_fill(
    emulator, live_account, live_adapter
):
    rising_market(emulator)
    result = engine_tick(account_id=live_account.pk, exchange=live_adapter)

    (order,) = result.orders
    assert order.status == "filled" and order.side == "buy"
    (remote,) = emulator.state.orders_with_client_id(order.idempotency_key)
    assert order.exchange_order_id == str(remote["orderId"]) and remote["status"] == "FILLED"
    # The capital ladder's first step caps what LIVE deploys: $100.
    assert order.amount * order.average_price <= Decimal("100") and order.amount * order.average_price > 90
    (fill,) = Fill.objects.filter(order=order)
    assert fill.exchange_trade_id == str(remote["fills"][0]["tradeId"])
    assert (fill.amount, fill.price, fill.fee) == (order.amount, order.average_price, order.fee)
    assert fill.correlation_id == result.correlation_id
    position = Position.objects.get(account=live_account, symbol="BTC/USDT")
    assert position.quantity == fill.amount
    assert position.average_cost == ((fill.amount * fill.price + fill.fee) / fill.amount).quantize(Decimal("1e-10"))
    live_account.refresh_from_db()
    assert live_account.cash_balance == START - fill.amount * fill.price - fill.fee
    assert live_account.feed_cursor == 61 and live_account.tick_seq == 1
    assert order_actions(order) == [
        ("order.new", result.correlation_id),
        ("order.submitted", result.correlation_id),
        ("order.filled", result.correlation_id),
    ]
    assert audit_chain_verify().ok
    # The last closed kline is stored, the forming one is not.
    assert Candle.objects.filter(source="binance", symbol="BTC/USDT").count() == 1


def test_the_next_tick_does_not_enter_again_and_the_rebuild_from_fills_matches(emulator, live_account, live_adapter):
    from trading.services.positions import positions_rebuild

    rising_market(emulator)
    engine_tick(account_id=live_account.pk, exchange=live_adapter)
    second = engine_tick(account_id=live_account.pk, exchange=live_adapter)
    assert second.orders == [] and posts(emulator) == 1
    assert positions_rebuild(account_id=live_account.pk, actor=Actor.system("test")).matches


def test_a_halted_live_account_places_nothing(emulator, live_account, live_adapter):
    TradingAccount.objects.filter(pk=live_account.pk).update(stop_level=StopLevel.HALT, stop_reason="test")
    rising_market(emulator)
    result = engine_tick(account_id=live_account.pk, exchange=live_adapter)
    assert result.orders == [] and any("kill_switch" in r or "stopped" in r for r in result.refusals)
    assert posts(emulator) == 0 and not Order.objects.filter(account=live_account).exists()
    assert AuditEvent.objects.filter(action="risk.refused").count() == 1


def test_a_lost_answer_is_settled_by_reconciliation_without_a_second_order(emulator, live_account, live_adapter):
    rising_market(emulator)
    emulator.state.inject("drop_response", path="order", method="POST")
    emulator.state.inject("not_found", path="order", method="GET")  # the adapter's own lookup is denied too
    result = engine_tick(account_id=live_account.pk, exchange=live_adapter)
    (order,) = result.orders
    assert order.status == "submitted" and not Fill.objects.filter(order=order).exists()

    again = engine_tick(account_id=live_account.pk, exchange=live_adapter)  # still in flight: nothing new
    assert again.orders == [] and posts(emulator) == 1

    report = reconcile_account(account_id=live_account.pk, exchange=live_adapter)
    assert report.updated == [order.idempotency_key]
    order.refresh_from_db()
    assert order.status == "filled" and Fill.objects.filter(order=order).count() == 1
    assert len(emulator.state.orders_with_client_id(order.idempotency_key)) == 1 and posts(emulator) == 1
    fill = Fill.objects.get(order=order)
    assert Position.objects.get(account=live_account, symbol="BTC/USDT").quantity == fill.amount
    live_account.refresh_from_db()
    assert live_account.cash_balance == START - fill.amount * fill.price - fill.fee
    assert [a for a, _ in order_actions(order)] == ["order.new", "order.submitted", "order.filled"]
    assert audit_chain_verify().ok


def test_the_tick_task_trades_a_live_account_through_its_stored_credentials(emulator, live_account):
    credential_store(account=live_account, api_key=API_KEY, secret=SECRET, actor=Actor.system("test"))
    rising_market(emulator)
    with override_settings(GENESIS_EXCHANGE_URL=emulator.url):
        engine_tick_task(live_account.pk)
        engine_tick_task(live_account.pk)
    (order,) = Order.objects.filter(account=live_account)
    assert order.status == "filled" and len(emulator.state.orders_with_client_id(order.idempotency_key)) == 1
    # The credential is read (and audited) once per exchange session, not once per tick.
    assert AuditEvent.objects.filter(action="credential.accessed").count() == 1


def test_a_failed_poll_is_an_outage_for_that_symbol(emulator, live_account, live_adapter):
    rising_market(emulator)
    emulator.state.inject("status", path="klines", status=503, times=10)
    result = engine_tick(account_id=live_account.pk, exchange=live_adapter)
    assert result.orders == [] and result.rejected_ticks["BTC/USDT"].startswith("no_data")
    assert posts(emulator) == 0


def test_a_live_fill_with_its_fee_in_the_base_asset_books_the_coins_received_to_the_cent(live_account):
    from trading.exchanges.live import ExchangeOrder, ExchangeTrade
    from trading.services.live_orders import order_apply_remote, order_prepare_live
    from trading.services.positions import positions_rebuild

    actor = Actor.system("test")
    with transaction.atomic():
        order, _ = order_prepare_live(
            account=live_account,
            symbol="BTC/USDT",
            side="buy",
            amount=Decimal("0.01"),
            idempotency_key="k",
            actor=actor,
        )
    trade = ExchangeTrade(
        "t1", "o1", "BTC/USDT", "buy", Decimal("60000"), Decimal("0.01"), Decimal("0.00001"), "BTC", "taker", None
    )
    remote = ExchangeOrder(
        "o1",
        "k",
        "BTC/USDT",
        "buy",
        "market",
        "filled",
        Decimal("0.01"),
        Decimal("0.01"),
        None,
        None,
        Decimal("0.00001"),
        "BTC",
        None,
    )
    order_apply_remote(order_id=order.pk, remote=remote, trades=[trade], actor=actor)
    order_apply_remote(order_id=order.pk, remote=remote, trades=[trade], actor=actor)  # the same answer again
    position = Position.objects.get(account=live_account, symbol="BTC/USDT")
    assert position.quantity == Decimal("0.00999")  # 0.01 bought, 0.00001 taken as fee
    assert position.average_cost == Decimal("60060.0600600601")  # the 600 paid over the coins held
    live_account.refresh_from_db()
    assert live_account.cash_balance == START - Decimal("600")  # no quote fee
    assert positions_rebuild(account_id=live_account.pk, actor=actor).matches


def test_the_beat_ticks_paper_accounts_and_live_ones_with_credentials_only(live_account):
    from trading.selectors import accounts_to_tick

    paper = TradingAccountFactory()
    TradingAccountFactory(mode=TradingMode.LIVE)
    assert accounts_to_tick() == [paper.pk]  # neither LIVE account has credentials yet
    credential_store(account=live_account, api_key=API_KEY, secret=SECRET, actor=Actor.system("test"))
    assert sorted(accounts_to_tick()) == sorted([live_account.pk, paper.pk])


def test_an_order_that_never_reached_the_exchange_is_failed_by_reconciliation_and_the_symbol_freed(
    emulator, live_account, live_adapter
):
    rising_market(emulator)
    # Refused before the book (as if the worker died between its commit and the send).
    emulator.state.inject("status", path="order", method="POST", status=503)
    (order,) = engine_tick(account_id=live_account.pk, exchange=live_adapter).orders
    assert order.status == "submitted" and emulator.state.orders_with_client_id(order.idempotency_key) == []
    for _ in range(3):
        reconcile_account(account_id=live_account.pk, exchange=live_adapter)
    order.refresh_from_db()
    assert order.status == "rejected" and "3 consecutive reconciliation passes" in order.reject_reason
    # The symbol is no longer in flight: the next entry reaches the gate again, which holds it
    # back while the exchange-status breaker the 503 opened is still open (SPEC R5).
    again = engine_tick(account_id=live_account.pk, exchange=live_adapter)
    assert again.orders == [] and again.refusals == ["circuit_breaker: circuit breaker open: exchange_status"]
    assert posts(emulator) == 1


def test_a_live_account_trades_a_scenario_path_with_every_order_once_on_the_exchange(
    emulator, live_account, live_adapter
):
    from trading.feeds import ScenarioFeed
    from trading.services.positions import positions_rebuild

    closes = ScenarioFeed("flash_crash", 3).closes("BTC/USDT", end=330, length=91)  # indexes 240..330
    now_minute = int(time.time() // 60 * 60_000)
    with emulator.state.lock:
        emulator.state.candles["BTCUSDT"] = [
            [now_minute - (30 - i) * 60_000, *(Decimal(f"{closes[i]:.2f}"),) * 4, Decimal("10")] for i in range(30)
        ]
    for close in closes[30:]:  # the crash and the recovery, one tick per price
        emulator.state.price_set("BTCUSDT", Decimal(f"{close:.2f}"))
        engine_tick(account_id=live_account.pk, exchange=live_adapter)

    orders = list(Order.objects.filter(account=live_account))
    assert orders and {o.status for o in orders} == {"filled"}
    for order in orders:
        (remote,) = emulator.state.orders_with_client_id(order.idempotency_key)
        assert Fill.objects.filter(order=order).count() == len(remote["fills"])
    assert posts(emulator) == len(orders)
    assert positions_rebuild(account_id=live_account.pk, actor=Actor.system("test")).matches
    assert audit_chain_verify().ok


def test_a_live_round_trip_enters_then_exits_on_the_fall_and_books_the_realized_pnl(
    emulator, live_account, live_adapter
):
    from trading.services.positions import positions_rebuild

    rising_market(emulator)
    (entry,) = engine_tick(account_id=live_account.pk, exchange=live_adapter).orders
    exits = []
    for step in range(1, 9):  # the price falls 2 % a tick: a stop or the crossover exits
        emulator.state.price_set("BTCUSDT", Decimal(60_500) * (1 - Decimal("0.02") * step))
        exits += engine_tick(account_id=live_account.pk, exchange=live_adapter).orders
    (exit_order,) = exits
    assert (entry.side, exit_order.side, exit_order.status) == ("buy", "sell", "filled")
    assert exit_order.amount == entry.amount and exit_order.realized_pnl < 0
    position = Position.objects.get(account=live_account, symbol="BTC/USDT")
    assert position.quantity == 0 and position.realized_pnl == exit_order.realized_pnl
    assert posts(emulator) == 2 and len(emulator.state.orders_with_client_id(exit_order.idempotency_key)) == 1
    assert positions_rebuild(account_id=live_account.pk, actor=Actor.system("test")).matches


def test_a_live_round_trip_with_the_buy_fee_in_bitcoin_agrees_in_position_lots_and_statement(
    emulator, live_account, live_adapter
):
    """Binance's way (commissionAsset BTC on a buy) through the real ccxt client: the position,
    the open tax lots, the exchange's balance and the monthly statement agree to the coin and the cent."""
    from django.utils import timezone

    from compliance.reports import monthly_statement, statement_data
    from compliance.taxlots import tax_lots_for_account
    from trading.services.positions import positions_rebuild

    emulator.state.buy_fee_in_base = True
    rising_market(emulator)
    (entry,) = engine_tick(account_id=live_account.pk, exchange=live_adapter).orders
    exits = []
    for step in range(1, 9):
        emulator.state.price_set("BTCUSDT", Decimal(60_500) * (1 - Decimal("0.02") * step))
        exits += engine_tick(account_id=live_account.pk, exchange=live_adapter).orders
    (exit_order,) = exits
    (buy,) = Fill.objects.filter(order=entry)
    (sell,) = Fill.objects.filter(order=exit_order)
    # The taker rate of the stored BTC/USDT market is 0.1 %: the fee is 0.1 % of the coins, rounded up.
    assert buy.fee_currency == "BTC" and buy.fee == (buy.amount / 1000).quantize(Decimal("1e-8"), rounding="ROUND_UP")
    assert sell.fee_currency == "USDT" and sell.fee > 0
    live_account.refresh_from_db()
    assert live_account.cash_balance == START - buy.amount * buy.price + sell.amount * sell.price - sell.fee

    position = Position.objects.get(account=live_account, symbol="BTC/USDT")
    held = buy.amount - buy.fee - sell.amount  # the exit sells what the step allows; dust may stay
    assert position.quantity == held and held >= 0
    with emulator.state.lock:
        assert emulator.state.accounts[API_KEY].free["BTC"] == 1 + held  # the fixture's 1 BTC + what we hold
    assert positions_rebuild(account_id=live_account.pk, actor=Actor.system("test")).matches

    for method in ("FIFO", "LIFO", "HIFO"):
        lots = tax_lots_for_account(account=live_account, method=method)
        assert sum((lot.remaining_quantity for lot in lots.open_lots), Decimal("0")) == held
        # Gains less what is still open = the cash the two trades moved (no coin fee is cash).
        assert lots.realized_gain - lots.open_basis == live_account.cash_balance - START

    statement = monthly_statement(account=live_account, month=f"{timezone.now():%Y-%m}")
    data = statement_data(statement)
    (btc,) = statement.symbols
    assert btc.quantity_end == held
    assert [(f["fee_currency"], f["fee_quote"]) for f in data["fills"]] == [
        ("BTC", str((buy.fee * buy.price).quantize(Decimal("0.01"), rounding="ROUND_UP").normalize())),
        ("USDT", f"{sell.fee.normalize():f}"),
    ]
    assert statement.reconciliation is not None and statement.reconciliation.reconciled
