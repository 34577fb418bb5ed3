from decimal import Decimal

import pytest

from risk.exceptions import RiskRefused
from risk.gate import GateContext, OrderIntent, gate_check
from risk.policy import RiskPolicy

D = Decimal
POLICY = RiskPolicy()  # max 5 open positions, max position 3 % of equity


def ctx(**kwargs) -> GateContext:
    base = {"policy": POLICY, "stop_level": "none", "equity": D("100000"), "position_values": {}}
    return GateContext(**{**base, **kwargs})


def buy(symbol="BTC/USDT", notional="1000"):
    return OrderIntent(symbol=symbol, side="buy", amount=D("1"), price=D(notional))


FOUR_OPEN = {f"S{i}/USDT": D("1000") for i in range(4)}
FIVE_OPEN = {f"S{i}/USDT": D("1000") for i in range(5)}


def test_a_sixth_position_is_refused_naming_the_numbers():
    with pytest.raises(RiskRefused, match="max_open_positions: open positions 6 would exceed max 5") as caught:
        gate_check(buy(), ctx(position_values=FIVE_OPEN))
    assert caught.value.rule == "max_open_positions"


def test_the_fifth_position_passes_at_the_boundary():
    gate_check(buy(), ctx(position_values=FOUR_OPEN))


def test_adding_to_an_existing_position_does_not_count_as_a_new_one():
    gate_check(buy(symbol="S0/USDT", notional="100"), ctx(position_values=FIVE_OPEN))


def test_a_position_above_the_size_cap_is_refused_naming_the_numbers():
    with pytest.raises(RiskRefused, match=r"position 3\.01 % of equity would exceed max 3 %"):
        gate_check(buy(notional="3010"), ctx())


def test_a_position_exactly_at_the_size_cap_passes():
    gate_check(buy(notional="3000"), ctx())


def test_the_size_cap_counts_what_is_already_held():
    with pytest.raises(RiskRefused, match=r"position 3\.50 %"):
        gate_check(buy(notional="1500"), ctx(position_values={"BTC/USDT": D("2000")}))


def test_exits_pass_even_beyond_the_limits():
    sell = OrderIntent(symbol="S0/USDT", side="sell", amount=D("1"), price=D("99999"))
    gate_check(sell, ctx(position_values=FIVE_OPEN))


def test_pause_entries_refuses_entries_but_lets_exits_through():
    with pytest.raises(RiskRefused, match="pause_entries"):
        gate_check(buy(), ctx(stop_level="pause_entries"))
    gate_check(
        OrderIntent(symbol="BTC/USDT", side="sell", amount=D("1"), price=D("1")), ctx(stop_level="pause_entries")
    )


@pytest.mark.parametrize("level", ["halt", "flatten"])
def test_the_kill_switch_refuses_every_order(level):
    for side in ("buy", "sell"):
        with pytest.raises(RiskRefused, match="kill_switch"):
            gate_check(OrderIntent(symbol="BTC/USDT", side=side, amount=D("1"), price=D("1")), ctx(stop_level=level))


def test_an_open_breaker_refuses_entries_and_lets_exits_through():
    with pytest.raises(RiskRefused, match="circuit_breaker: circuit breaker open: latency"):
        gate_check(buy(), ctx(open_breakers=("latency",)))
    gate_check(
        OrderIntent(symbol="BTC/USDT", side="sell", amount=D("1"), price=D("1")), ctx(open_breakers=("latency",))
    )


@pytest.mark.parametrize(
    ("field", "value", "rule", "text"),
    [
        ("pnl_today_pct", D("-3.2"), "daily_stop", "P&L today -3.20 % breaches the daily stop -3 %"),
        ("pnl_week_pct", D("-7"), "weekly_stop", "P&L this week -7.00 % breaches the weekly stop -7 %"),
        ("drawdown_pct", D("10"), "max_drawdown", "drawdown 10.00 % from peak reaches the max 10 %"),
    ],
)
def test_pnl_stops_and_drawdown_halt_entries_naming_the_numbers(field, value, rule, text):
    with pytest.raises(RiskRefused, match=rule) as caught:
        gate_check(buy(), ctx(**{field: value}))
    assert text in str(caught.value)
    exit_intent = OrderIntent(symbol="BTC/USDT", side="sell", amount=D("1"), price=D("1"))
    gate_check(exit_intent, ctx(**{field: value}))  # exits still allowed


def test_pnl_just_inside_the_stops_passes():
    gate_check(buy(), ctx(pnl_today_pct=D("-2.99"), pnl_week_pct=D("-6.99"), drawdown_pct=D("9.99")))
