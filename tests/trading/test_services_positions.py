"""SPEC T6 / §10: positions rebuilt from fills equal the stored ones, exactly, after long
random runs; P&L summaries; correlation ids from the tick to the order, fills and audit."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.models import AuditEvent
from compliance.services import Actor
from tests.risk.factories import unpaced_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.exchanges.paper import PaperExchange
from trading.markets import market_get
from trading.models import Fill, Position, TradingAccount
from trading.positions import PositionState, position_apply_fill
from trading.services.engine import engine_tick
from trading.services.orders import order_execute_paper
from trading.services.positions import positions_rebuild

OPS = Actor("user", "ops")
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
START = {"BTC/USDT": Decimal("60000"), "ETH/USDT": Decimal("3000"), "SOL/USDT": Decimal("150")}

steps = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.sampled_from(["buy", "sell"]),
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1"), places=2),  # share of cash or position
        st.decimals(min_value=Decimal("-0.05"), max_value=Decimal("0.05"), places=4),  # price move
    ),
    min_size=5,
    max_size=60,
)


def book(account, positions, prices, step, n):
    symbol, side, share, move = step
    market = market_get(symbol)
    prices[symbol] = market.round_price(prices[symbol] * (1 + move), up=False)
    position = positions.setdefault(symbol, Position.objects.get_or_create(account=account, symbol=symbol)[0])
    if side == "buy":
        amount = market.floor_amount(account.cash_balance * share / 2 / prices[symbol])
    else:
        amount = market.floor_amount(position.quantity * share)
    if amount <= 0:
        return
    order_execute_paper(
        account=account,
        strategy=None,
        position=position,
        market=market,
        side=side,
        amount=amount,
        last_price=prices[symbol],
        exchange=PaperExchange(),
        idempotency_key=f"h-{account.pk}-{n}",
        correlation_id=f"c{n}",
        config_hash="",
        actor=OPS,
    )


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=steps)
def test_positions_rebuilt_from_fills_equal_the_stored_ones_after_random_runs(run):
    account = TradingAccountFactory(symbols=list(SYMBOLS))
    positions, prices = {}, dict(START)
    with transaction.atomic():
        for n, step in enumerate(run):
            book(account, positions, prices, step, n)
        account.save(update_fields=["cash_balance"])
    result = positions_rebuild(account_id=account.pk, actor=OPS)
    assert result.matches, result.differences
    for row in Position.objects.filter(account=account):
        signed = sum(
            (f.amount if f.side == "buy" else -f.amount)
            for f in Fill.objects.filter(account=account, symbol=row.symbol)
        )
        assert row.quantity == signed == result.positions.get(row.symbol, PositionState()).quantity
    account.refresh_from_db()
    assert account.cash_balance == result.cash_balance


@settings(max_examples=10_000, deadline=None)
@given(
    fills=st.lists(
        st.tuples(
            st.sampled_from(["buy", "sell"]),
            st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("5"), places=5),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2),
        ),
        max_size=30,
    )
)
def test_the_position_always_equals_the_signed_sum_of_its_fills(fills):
    state, signed = PositionState(), Decimal("0")
    for side, amount, price in fills:
        if side == "sell":
            amount = min(amount, state.quantity)
            if not amount:
                continue
        state = position_apply_fill(state, side=side, amount=amount, price=price, fee=Decimal("0"))
        signed += amount if side == "buy" else -amount
        assert state.quantity == signed >= 0
        assert (state.average_cost == 0) == (state.quantity == 0)


@pytest.mark.django_db
def test_a_tampered_position_is_found_and_corrected_with_an_audited_reason():
    account = TradingAccountFactory()
    unpaced_policy(account)
    StrategyFactory(account=account, params={"fast": 3, "slow": 8, "entry_threshold": 0})
    for _ in range(40):
        engine_tick(account_id=account.pk)
    assert positions_rebuild(account_id=account.pk, actor=OPS).matches
    Position.objects.filter(account=account).update(realized_pnl=Decimal("123.45"))
    TradingAccount.objects.filter(pk=account.pk).update(cash_balance=Decimal("1"))
    with pytest.raises(CommandError, match="differences"):
        call_command("positions_rebuild", account.name)
    with pytest.raises(CommandError, match="--reason"):
        call_command("positions_rebuild", account.name, "--apply")
    call_command("positions_rebuild", account.name, "--apply", "--reason", "row edited by hand")
    assert positions_rebuild(account_id=account.pk, actor=OPS).matches
    event = AuditEvent.objects.get(action="positions.rebuilt")
    assert event.payload["reason"] == "row edited by hand"
    assert any("cash_balance: stored 1" in d for d in event.payload["differences"])


@pytest.mark.django_db
def test_the_tick_correlation_id_is_on_its_orders_fills_and_their_audit_events():
    account = TradingAccountFactory()
    unpaced_policy(account)
    StrategyFactory(account=account, params={"fast": 3, "slow": 8, "entry_threshold": 0})
    for _ in range(60):
        result = engine_tick(account_id=account.pk)
        if result.orders:
            break
    order = result.orders[0]
    assert len(result.correlation_id) == 32 and order.correlation_id == result.correlation_id
    assert set(Fill.objects.filter(order=order).values_list("correlation_id", flat=True)) == {result.correlation_id}
    events = AuditEvent.objects.filter(object_type="trading.order", object_id=str(order.pk))
    assert [e.action for e in events.order_by("sequence")] == ["order.new", "order.submitted", "order.filled"]
    assert set(events.values_list("correlation_id", flat=True)) == {result.correlation_id}
    fill = Fill.objects.get(order=order)
    assert fill.fee > 0 and fill.fee_currency == "USDT" and order.fee == fill.fee and order.fee_currency == "USDT"
