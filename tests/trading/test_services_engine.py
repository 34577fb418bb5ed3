import itertools
import time
from decimal import Decimal

import pytest
from django.db import transaction

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor
from risk.models import REJECTION_BREAKER, CircuitBreakerState
from risk.policy import default_policy_yaml
from tests.risk.factories import active_policy, unpaced_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.exceptions import IdempotencyConflict
from trading.exchanges.paper import PaperExchange
from trading.feeds import SCENARIOS, ScenarioFeed
from trading.markets import market_get
from trading.models import EquitySnapshot, Fill, Order, Position, StopLevel, TradingMode
from trading.positions import PositionState, position_apply_fill
from trading.selectors import pnl_bases
from trading.services.accounts import account_replay_set
from trading.services.engine import engine_tick
from trading.services.orders import idempotency_key_for, order_execute_paper

pytestmark = pytest.mark.django_db
ONLY_TRADE_SPACING = (
    "max_trades_per_day: 100000\nmax_trades_per_hour: 100000\nmax_new_positions_per_hour: 100000\n"
    "min_seconds_per_symbol: 0\n"
)
EPOCH_DAY_END = 24 * 60 - 1  # the scenario feed's last candle of its first day (EPOCH 2024-01-01)


def make_account(**kwargs):
    account = TradingAccountFactory(**kwargs)
    StrategyFactory(account=account)
    active_policy(account)
    return account


def tick_until_order(account, limit=200):
    for _ in range(limit):
        result = engine_tick(account_id=account.pk)
        if result.orders:
            return result
    raise AssertionError(f"no order within {limit} ticks")


def rebuild(account) -> dict[str, PositionState]:
    states: dict[str, PositionState] = {}
    for fill in Fill.objects.filter(account=account).order_by("pk"):
        states[fill.symbol] = position_apply_fill(
            states.get(fill.symbol, PositionState()), side=fill.side, amount=fill.amount, price=fill.price, fee=fill.fee
        )
    return states


def test_a_tick_persists_order_fill_position_snapshot_and_one_audit_event_per_state_change():
    account = make_account()
    result = tick_until_order(account)
    order = result.orders[0]
    account.refresh_from_db()
    assert order.status == "filled" and order.side == "buy"
    fill = Fill.objects.get(order=order)
    assert fill.amount == order.amount and fill.price == order.average_price and fill.fee == order.fee
    position = Position.objects.get(account=account, symbol="BTC/USDT")
    assert position.quantity == fill.amount
    assert account.cash_balance == Decimal("100000") - fill.amount * fill.price - fill.fee
    snapshot = EquitySnapshot.objects.filter(account=account).latest("ts")
    assert snapshot.equity == account.cash_balance + position.quantity * position.mark_price
    events = AuditEvent.objects.filter(object_id=str(order.pk), object_type="trading.order")
    assert [e.action for e in events] == ["order.new", "order.submitted", "order.filled"]
    assert {e.correlation_id for e in events} == {order.correlation_id}
    assert {e.config_hash for e in events} == {account.config_versions.get().sha256}
    assert audit_chain_verify().ok


def test_position_size_respects_the_risk_budget_and_the_policy_cap():
    account = make_account()
    order = tick_until_order(account).orders[0]
    snapshot_before = Decimal("100000")
    assert order.amount * order.average_price <= snapshot_before * Decimal("0.03")
    assert order.amount * order.average_price > snapshot_before * Decimal("0.029")


def test_positions_rebuilt_from_fills_match_the_stored_ones_after_a_long_run():
    account = make_account(symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"], scenario="sideways")
    unpaced_policy(account)
    for _ in range(400):
        engine_tick(account_id=account.pk)
    assert Fill.objects.filter(account=account).count() >= 4
    for symbol, state in rebuild(account).items():
        stored = Position.objects.get(account=account, symbol=symbol)
        assert (stored.quantity, stored.average_cost, stored.realized_pnl) == (
            state.quantity,
            state.average_cost,
            state.realized_pnl,
        )


def test_the_crash_scenario_exits_the_position_and_caps_the_loss():
    account = make_account(scenario="crash")
    crash = SCENARIOS["crash"]
    while account.feed_cursor < crash.crash_at + crash.crash_candles + 5:
        engine_tick(account_id=account.pk)
        account.refresh_from_db()
    assert not Position.objects.filter(account=account, quantity__gt=0).exists()
    assert Order.objects.filter(account=account, side="sell", status="filled").exists()
    # Positions are capped at 3 % of equity, so a -50 % crash costs well under 3 %.
    assert account.cash_balance > Decimal("100000") * Decimal("0.97")
    assert audit_chain_verify().ok


def test_a_refusal_by_the_gate_is_audited_and_no_order_is_placed():
    account = make_account()
    active_policy(account, content="max_open_positions: 0\n", reason="no new positions")
    for _ in range(100):
        engine_tick(account_id=account.pk)
    assert not Order.objects.exists()
    refusal = AuditEvent.objects.filter(action="risk.refused").first()
    assert refusal.payload["rule"] == "max_open_positions"
    assert "open positions 1 would exceed max 0" in refusal.payload["message"]


def test_halted_and_dry_run_accounts_place_no_orders_but_keep_marking_equity():
    halted = make_account(stop_level=StopLevel.HALT)
    dry = make_account(mode=TradingMode.DRY_RUN)
    for _ in range(100):
        engine_tick(account_id=halted.pk)
        engine_tick(account_id=dry.pk)
    assert not Order.objects.exists()
    assert EquitySnapshot.objects.filter(account=halted).count() == 100
    assert EquitySnapshot.objects.filter(account=dry).count() == 100


def test_a_new_market_data_source_starts_the_cursor_again_but_never_reuses_a_client_order_id():
    account = make_account()
    unpaced_policy(account)  # no wall-clock pacing: the same cursor, the same decision

    def run(ticks: int) -> dict[int, list]:
        placed = {}
        for _ in range(ticks):
            result = engine_tick(account_id=account.pk)
            if result.orders:
                account.refresh_from_db()
                placed[account.feed_cursor] = result.orders
        return placed

    before = run(300)
    # Back to its scenario from its first candle: the same cursors, often the same decisions.
    account_replay_set(account_id=account.pk, files={}, speed=0, actor=Actor.system("tests"), reason="restart")
    after = run(300)
    again = before.keys() & after.keys()
    assert again, "no order at a cursor that had one before the restart: the test proves nothing"
    for cursor in again:  # placed and booked, neither taken for a replay nor refused as a collision
        assert {o.idempotency_key for o in before[cursor]}.isdisjoint(o.idempotency_key for o in after[cursor])
        assert all(o.status == "filled" for o in after[cursor])
    assert Order.objects.values("idempotency_key").distinct().count() == Order.objects.count()


def test_an_accepted_order_forgives_the_rejection_breakers_failures_the_tick_read():
    account = make_account()
    CircuitBreakerState.objects.create(account=account, source=REJECTION_BREAKER, state="closed", failures=3)
    order = tick_until_order(account).orders[0]
    assert order.status == "filled"
    breaker = CircuitBreakerState.objects.get(account=account, source=REJECTION_BREAKER)
    assert (breaker.state, breaker.failures) == ("closed", 0)


def test_the_same_tick_gets_the_same_client_order_id_and_a_resubmit_is_a_no_op():
    account = make_account()
    order = tick_until_order(account).orders[0]
    account.refresh_from_db()
    key = idempotency_key_for(
        account_id=account.pk, tick=account.tick_seq, strategy_id=order.strategy_id, symbol=order.symbol
    )
    assert key == order.idempotency_key and len(key) <= 36
    cash, events = account.cash_balance, AuditEvent.objects.count()
    with transaction.atomic():
        again, execution = order_execute_paper(
            account=account,
            strategy=order.strategy,
            position=Position.objects.get(symbol=order.symbol),
            market=market_get(order.symbol),
            side="buy",
            amount=order.amount,
            last_price=order.average_price,
            exchange=PaperExchange(),
            idempotency_key=key,
            correlation_id="retry",
            config_hash="",
            actor=Actor.system("tests"),
        )
    assert again.pk == order.pk and execution is None  # the recorded order, nothing placed
    assert Order.objects.filter(idempotency_key=key).count() == 1
    assert Fill.objects.count() == 1
    account.refresh_from_db()
    assert account.cash_balance == cash and AuditEvent.objects.count() == events
    # The same key for a different order is a collision, not a retry: refused, nothing written.
    with pytest.raises(IdempotencyConflict, match=key), transaction.atomic():
        order_execute_paper(
            account=account,
            strategy=order.strategy,
            position=Position.objects.get(symbol=order.symbol),
            market=market_get(order.symbol),
            side="buy",
            amount=order.amount * 2,
            last_price=order.average_price,
            exchange=PaperExchange(),
            idempotency_key=key,
            correlation_id="retry",
            config_hash="",
            actor=Actor.system("tests"),
        )
    assert Order.objects.count() == 1 and Fill.objects.count() == 1


def test_live_accounts_are_not_ticked_until_the_live_adapter_exists():
    account = make_account(mode=TradingMode.LIVE)
    assert engine_tick(account_id=account.pk) is None
    assert not EquitySnapshot.objects.filter(account=account).exists()


def test_pacing_lets_one_of_three_same_tick_entries_through_and_refuses_the_others():
    account = TradingAccountFactory(symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"])
    for symbol in account.symbols:
        StrategyFactory(account=account, symbols=[symbol], params={"fast": 2, "slow": 3, "entry_threshold": 0})
    active_policy(account)  # 180 s between trades
    for _ in range(30):
        engine_tick(account_id=account.pk)
    assert Order.objects.filter(side="buy").count() == 1
    refusal = AuditEvent.objects.filter(action="risk.refused", payload__rule="min_seconds_between_trades").first()
    assert refusal is not None and "s since the last trade, min 180 s" in refusal.payload["message"]


def test_on_the_candle_clock_pacing_counts_simulated_time_through_the_same_gate():
    # Only the 180 s between trades paces here: three symbols want in on every tick.
    account = TradingAccountFactory(symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"])
    for symbol in account.symbols:
        StrategyFactory(account=account, symbols=[symbol], params={"fast": 2, "slow": 3, "entry_threshold": 0})
    active_policy(account, content=default_policy_yaml() + ONLY_TRADE_SPACING)
    start, wall_started = account.feed_cursor, time.monotonic()
    for _ in range(30):
        engine_tick(account_id=account.pk, candle_clock=True)
    wall = time.monotonic() - wall_started
    feed = ScenarioFeed(account.scenario, account.scenario_seed)
    orders = list(Order.objects.filter(account=account).order_by("created_at", "pk"))
    buys = [o for o in orders if o.side == "buy"]
    # Stamped with their candle's time, and the entries spread over simulated minutes that
    # the wall clock never saw (on the wall clock the same 30 ticks let one entry through).
    assert all(o.created_at in {feed.ts_of(start + i) for i in range(1, 31)} for o in orders)
    assert len(buys) >= 3 and wall < 180
    assert (buys[-1].created_at - buys[0].created_at).total_seconds() >= 180 * (len(buys) - 1)
    for before, buy in itertools.pairwise(orders):
        if buy.side == "buy":  # an entry waits 180 s after any trade; an exit never waits
            assert (buy.created_at - before.created_at).total_seconds() >= 180
    refused = AuditEvent.objects.filter(action="risk.refused", payload__rule="min_seconds_between_trades")
    messages = {e.payload["message"] for e in refused}
    assert any("60 s since the last trade, min 180 s" in m for m in messages)  # one simulated minute later
    account.refresh_from_db()
    assert account.last_tick_at == feed.ts_of(start + 30)
    opened = Position.objects.filter(account=account, quantity__gt=0).values_list("opened_at", flat=True)
    assert set(opened) <= {o.created_at for o in buys}


def test_the_candle_clock_measures_todays_pnl_from_the_simulated_days_start():
    account = make_account(feed_cursor=EPOCH_DAY_END - 3)
    results = [engine_tick(account_id=account.pk, candle_clock=True) for _ in range(6)]  # across midnight
    snapshots = list(EquitySnapshot.objects.filter(account=account).order_by("ts"))
    assert [s.ts.day for s in snapshots] == [1, 1, 1, 2, 2, 2]
    for result in results[:3]:  # day one began before the account's first snapshot
        assert result.state.pnl["today"] == result.state.pnl["total"]
    # Day two is measured from the last snapshot at or before its 00:00: the midnight tick
    # from 23:59's, the later ticks from the midnight one (as on the wall clock).
    assert results[3].state.pnl["today"] == results[3].equity - snapshots[2].equity
    midnight = snapshots[3]
    for result in results[4:]:
        assert result.state.pnl["today"] == result.equity - midnight.equity
    assert pnl_bases(account=account, now=snapshots[-1].ts)["today"] == midnight.equity


def test_orders_and_fills_carry_their_ticks_time_like_the_snapshot():
    account = make_account()
    order = tick_until_order(account).orders[0]
    snapshot = EquitySnapshot.objects.filter(account=account).latest("ts")
    assert order.created_at == snapshot.ts == Fill.objects.get(order=order).created_at


def test_exits_record_the_pnl_they_realized_and_it_adds_up_to_the_position():
    account = make_account(scenario="sideways")
    unpaced_policy(account)
    for _ in range(400):
        engine_tick(account_id=account.pk)
    sells = Order.objects.filter(account=account, side="sell", status="filled")
    assert sells.count() >= 2
    assert not Order.objects.filter(side="buy").exclude(realized_pnl=0).exists()
    position = Position.objects.get(account=account, symbol="BTC/USDT")
    assert sum(o.realized_pnl for o in sells) == position.realized_pnl


def test_the_policys_sizing_method_sizes_entries():
    account = make_account()
    active_policy(account, content=default_policy_yaml() + "sizing: {method: kelly, kelly_min_trades: 20}\n")
    order = tick_until_order(account).orders[0]
    # Kelly without 20 closed trades falls back to the minimum size, 0.5 % of equity.
    assert Decimal("499") < order.amount * order.average_price <= Decimal("500")
