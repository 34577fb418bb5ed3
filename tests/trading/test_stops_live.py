"""Stop levels on a LIVE account act on the exchange (SPEC R6, §10 kill switch): the real ccxt
client against the exchange emulator on loopback."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor
from risk.models import Alert
from risk.services import trading_flatten, trading_halt, trading_pause_entries
from tests.trading.conftest import API_KEY, SECRET
from tests.trading.test_engine_live import order_actions, rising_market
from trading.exchanges.paper import PaperExecution, PaperFill
from trading.models import Fill, Order, Position, StopLevel, TradingAccount
from trading.services.credentials import credential_store
from trading.services.engine import engine_tick
from trading.services.live_orders import order_prepare_live, order_send_live, order_submit_live
from trading.services.reconcile import reconcile_account

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")


def resting_buy(account, adapter, key, amount="0.002", price="59000") -> Order:
    """A limit buy below the market: it rests open on the exchange."""
    order = order_submit_live(
        account=account,
        exchange=adapter,
        symbol="BTC/USDT",
        side="buy",
        amount=Decimal(amount),
        idempotency_key=key,
        actor=OPS,
        order_type="limit",
        price=Decimal(price),
    )
    assert order.status == "submitted" and order.exchange_order_id
    return order


def remote(emulator, key) -> dict:
    (found,) = emulator.state.orders_with_client_id(key)
    return found


def prepared(account, key, side="buy", amount="0.001") -> Order:
    """An order a tick committed as submitted and has not sent yet."""
    from django.db import transaction

    with transaction.atomic():
        order, _ = order_prepare_live(
            account=account, symbol="BTC/USDT", side=side, amount=Decimal(amount), idempotency_key=key, actor=OPS
        )
    return order


def exchange_fill(emulator, key, amount: Decimal) -> None:
    """A counterparty trades `amount` of a resting order on the exchange."""
    state = emulator.state
    with state.lock:
        (order,) = [o for o in state.orders.values() if o["clientOrderId"] == key]
        fill = PaperFill(price=order["price"], amount=amount, fee=Decimal("0"), fee_currency="USDT", liquidity="maker")
        execution = PaperExecution((fill,), requested=amount, fee_currency="USDT")
        state._book(state.accounts[order["apiKey"]], order, execution, state.markets[order["symbol"]])
        order["status"] = "FILLED" if order["executedQty"] == order["origQty"] else "PARTIALLY_FILLED"


def test_halt_cancels_the_open_order_on_the_exchange_after_its_commit_and_the_database_follows(emulator, live_account):
    """Through `manage.py trading_stop` and the account's stored credentials: the path the
    API, dashboard and ChatOps share."""
    credential_store(account=live_account, api_key=API_KEY, secret=SECRET, actor=Actor.system("test"))
    with override_settings(GENESIS_EXCHANGE_URL=emulator.url):
        from trading.services.engine import live_exchange_session

        order = resting_buy(live_account, live_exchange_session(account_id=live_account.pk), "gen-rest-1")
        assert remote(emulator, "gen-rest-1")["status"] == "NEW"
        out = StringIO()
        call_command("trading_stop", "halt", live_account.name, "--reason", "exchange incident", stdout=out)
    assert out.getvalue().splitlines() == ["cancelled 1 orders on the exchange", f"{live_account.name}: halt"]
    assert remote(emulator, "gen-rest-1")["status"] == "CANCELED"
    order.refresh_from_db()
    assert order.status == "cancelled" and order.exchange_order_id == str(remote(emulator, "gen-rest-1")["orderId"])
    assert [a for a, _ in order_actions(order)] == ["order.new", "order.submitted", "order.cancelled"]
    cancelled = AuditEvent.objects.get(action="order.cancelled")
    halt = AuditEvent.objects.get(action="stop.halt")
    # The stop committed first; the row changed only on the exchange's answer.
    assert halt.sequence < cancelled.sequence
    assert halt.payload["cancel_on_exchange"] == 1 and "halt: exchange incident" in cancelled.payload["reason"]
    live_account.refresh_from_db()
    assert live_account.stop_level == StopLevel.HALT
    assert audit_chain_verify().ok


def test_an_order_committed_before_the_halt_never_reaches_the_exchange_after_it(emulator, live_account, live_adapter):
    order = prepared(live_account, "gen-late-1")
    halted = trading_halt(account_id=live_account.pk, actor=OPS, reason="drill", wait=True, exchange=live_adapter)
    assert halted.cancelled_orders == 0
    order.refresh_from_db()
    assert order.status == "submitted"  # the exchange does not know it: not called cancelled by the halt
    sent = order_send_live(order=order, exchange=live_adapter, actor=OPS)
    assert sent.status == "cancelled" and sent.reject_reason.startswith("not sent: halt")
    assert emulator.state.orders_with_client_id("gen-late-1") == []
    assert emulator.state.requests.count(("POST", "order")) == 0
    (event,) = AuditEvent.objects.filter(action="order.cancelled")
    assert event.payload["sent"] is False and event.actor == "ops"
    assert audit_chain_verify().ok


def test_an_order_the_halt_already_settled_is_not_sent(emulator, live_account, live_adapter):
    order = prepared(live_account, "gen-late-2")
    Order.objects.filter(pk=order.pk).update(status="cancelled")
    assert order_send_live(order=order, exchange=live_adapter, actor=OPS).status == "cancelled"
    assert emulator.state.requests.count(("POST", "order")) == 0


def test_paused_entries_send_exits_but_not_entries(emulator, live_account, live_adapter):
    assert order_send_live(order=prepared(live_account, "gen-held"), exchange=live_adapter, actor=OPS).status == (
        "filled"
    )
    entry, exit_ = prepared(live_account, "gen-buy"), prepared(live_account, "gen-sell", side="sell")
    trading_pause_entries(account_id=live_account.pk, actor=OPS, reason="news")
    assert order_send_live(order=entry, exchange=live_adapter, actor=OPS).status == "cancelled"
    assert order_send_live(order=exit_, exchange=live_adapter, actor=OPS).status == "filled"
    assert emulator.state.orders_with_client_id("gen-buy") == []
    assert remote(emulator, "gen-sell")["status"] == "FILLED"


def test_a_partially_filled_order_that_fills_before_the_cancel_lands_is_booked_filled(
    emulator, live_account, live_adapter
):
    order = resting_buy(live_account, live_adapter, "gen-part-1")
    exchange_fill(emulator, "gen-part-1", Decimal("0.001"))
    reconcile_account(account_id=live_account.pk, exchange=live_adapter)
    order.refresh_from_db()
    assert (order.status, order.filled_amount) == ("partially_filled", Decimal("0.001"))
    exchange_fill(emulator, "gen-part-1", Decimal("0.001"))  # the rest fills; the halt's cancel comes after

    halted = trading_halt(account_id=live_account.pk, actor=OPS, reason="drill", wait=True, exchange=live_adapter)
    assert halted.cancelled_orders == 0
    order.refresh_from_db()
    assert remote(emulator, "gen-part-1")["status"] == "FILLED"
    assert (order.status, order.filled_amount) == ("filled", Decimal("0.002"))
    assert sorted(Fill.objects.filter(order=order).values_list("exchange_trade_id", flat=True)) == sorted(
        str(f["tradeId"]) for f in remote(emulator, "gen-part-1")["fills"]
    )
    assert Position.objects.get(account=live_account, symbol="BTC/USDT").quantity == Decimal("0.002")
    assert [a for a, _ in order_actions(order)] == [
        "order.new",
        "order.submitted",
        "order.partially_filled",
        "order.filled",
    ]
    assert audit_chain_verify().ok


def test_flatten_sells_the_position_on_the_exchange_and_books_the_real_fill(emulator, live_account, live_adapter):
    bought = order_submit_live(
        account=live_account,
        exchange=live_adapter,
        symbol="BTC/USDT",
        side="buy",
        amount=Decimal("0.001"),
        idempotency_key="gen-entry",
        actor=OPS,
    )
    assert bought.status == "filled"
    resting = resting_buy(live_account, live_adapter, "gen-rest-2")
    btc_before = emulator.state.accounts[API_KEY].free["BTC"]

    flattened = trading_flatten(
        account_id=live_account.pk, actor=OPS, reason="end of day", wait=True, exchange=live_adapter
    )
    assert flattened.closed_positions == 1

    (exit_order,) = Order.objects.filter(account=live_account, idempotency_key__startswith="flat-")
    on_exchange = remote(emulator, exit_order.idempotency_key)
    assert (on_exchange["side"], on_exchange["type"], on_exchange["status"]) == ("SELL", "MARKET", "FILLED")
    assert exit_order.status == "filled" and exit_order.amount == Decimal("0.001")
    (fill,) = Fill.objects.filter(order=exit_order)
    assert fill.exchange_trade_id == str(on_exchange["fills"][0]["tradeId"])
    assert fill.price == Decimal(on_exchange["fills"][0]["price"])
    position = Position.objects.get(account=live_account, symbol="BTC/USDT")
    assert position.quantity == 0 and position.realized_pnl == exit_order.realized_pnl
    assert emulator.state.accounts[API_KEY].free["BTC"] == btc_before - Decimal("0.001")
    resting.refresh_from_db()
    assert resting.status == "cancelled" and remote(emulator, "gen-rest-2")["status"] == "CANCELED"
    live_account.refresh_from_db()
    assert live_account.stop_level == StopLevel.FLATTEN
    assert audit_chain_verify().ok


def test_reconciliation_cancels_what_a_halted_account_has_open_on_the_exchange(emulator, live_account, live_adapter):
    # Sent just before a halt committed, and the halt's own cancel did not reach it.
    ours = resting_buy(live_account, live_adapter, "gen-window")
    TradingAccount.objects.filter(pk=live_account.pk).update(stop_level=StopLevel.HALT, stop_reason="incident")
    live_adapter.create_order(  # placed by hand on the exchange: adopted, then cancelled
        symbol="BTC/USDT",
        side="buy",
        amount=Decimal("0.002"),
        client_order_id="by-hand",
        order_type="limit",
        price=Decimal("58000"),
    )
    report = reconcile_account(account_id=live_account.pk, exchange=live_adapter)
    assert sorted(report.cancelled) == ["by-hand", "gen-window"]
    assert [remote(emulator, k)["status"] for k in ("gen-window", "by-hand")] == ["CANCELED", "CANCELED"]
    ours.refresh_from_db()
    assert ours.status == "cancelled"
    assert Order.objects.get(idempotency_key="by-hand", adopted=True).status == "cancelled"
    assert live_adapter.open_orders() == []
    assert audit_chain_verify().ok


def test_reconciliation_of_a_flattened_account_keeps_the_flatten_exits(emulator, live_account, live_adapter):
    TradingAccount.objects.filter(pk=live_account.pk).update(stop_level=StopLevel.FLATTEN, stop_reason="eod")
    for key, price in (("flat-exit", "61000"), ("gen-other", "62000")):
        live_adapter.create_order(
            symbol="BTC/USDT",
            side="sell",
            amount=Decimal("0.002"),
            client_order_id=key,
            order_type="limit",
            price=Decimal(price),
        )
    report = reconcile_account(account_id=live_account.pk, exchange=live_adapter)
    assert report.cancelled == ["gen-other"]
    assert remote(emulator, "flat-exit")["status"] == "NEW" and remote(emulator, "gen-other")["status"] == "CANCELED"


def test_a_failed_cancel_stays_open_is_alerted_and_the_next_tick_cancels_it(emulator, live_account, live_adapter):
    order = resting_buy(live_account, live_adapter, "gen-retry")
    emulator.state.inject("status", path="order", method="DELETE", status=503, times=4)  # every adapter attempt
    halted = trading_halt(account_id=live_account.pk, actor=OPS, reason="drill", wait=True, exchange=live_adapter)
    assert halted.cancelled_orders == 0
    order.refresh_from_db()
    assert order.status == "submitted" and remote(emulator, "gen-retry")["status"] == "NEW"
    assert Alert.objects.filter(type="api_error_burst", message__contains="1 cancel(s) failed").exists()

    rising_market(emulator)
    result = engine_tick(account_id=live_account.pk, exchange=live_adapter)
    assert result.orders == []
    order.refresh_from_db()
    assert order.status == "cancelled" and remote(emulator, "gen-retry")["status"] == "CANCELED"


def test_the_dead_mans_switch_cancels_a_live_account_s_orders_on_the_exchange(emulator, live_account):
    from datetime import timedelta

    from django.utils import timezone

    from genesis_site.models import Heartbeat
    from risk.watchdog import watchdog_check

    credential_store(account=live_account, api_key=API_KEY, secret=SECRET, actor=Actor.system("test"))
    with override_settings(GENESIS_EXCHANGE_URL=emulator.url):
        from trading.services.engine import live_exchange_session

        order = resting_buy(live_account, live_exchange_session(account_id=live_account.pk), "gen-dead")
        Heartbeat.objects.create(name="worker:w1", beat_at=timezone.now() - timedelta(seconds=61))
        assert watchdog_check().cancelled_orders == 1
    assert remote(emulator, "gen-dead")["status"] == "CANCELED"
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert AuditEvent.objects.get(action="order.cancelled").actor == "dead_mans_switch"


def test_a_partially_filled_order_cancelled_by_the_halt_keeps_its_fill(emulator, live_account, live_adapter):
    order = resting_buy(live_account, live_adapter, "gen-part-2")
    exchange_fill(emulator, "gen-part-2", Decimal("0.001"))  # the DB has not seen it yet
    halted = trading_halt(account_id=live_account.pk, actor=OPS, reason="drill", wait=True, exchange=live_adapter)
    assert halted.cancelled_orders == 1
    order.refresh_from_db()
    on_exchange = remote(emulator, "gen-part-2")
    assert on_exchange["status"] == "CANCELED" and on_exchange["executedQty"] == Decimal("0.001")
    assert (order.status, order.filled_amount) == ("cancelled", Decimal("0.001"))
    (fill,) = Fill.objects.filter(order=order)
    assert fill.exchange_trade_id == str(on_exchange["fills"][0]["tradeId"])
    assert Position.objects.get(account=live_account, symbol="BTC/USDT").quantity == Decimal("0.001")
    assert audit_chain_verify().ok
