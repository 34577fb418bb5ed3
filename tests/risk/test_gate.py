from decimal import Decimal

import pytest

from risk.exceptions import RiskRefused
from risk.gate import GateContext, OrderIntent, Pacing, gate_check
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


def test_total_exposure_is_refused_with_the_spec_wording():
    held = {
        "ETH/USDT": D("2400"),
        "SOL/USDT": D("2500"),
        "A/USDT": D("2500"),
        "B/USDT": D("2500"),
        "C/USDT": D("2500"),
        "D/USDT": D("2500"),
        "E/USDT": D("2500"),
        "F/USDT": D("2500"),
        "G/USDT": D("2500"),
    }  # 22,400 held
    with pytest.raises(RiskRefused, match=r"max_total_exposure: exposure 25\.4 % would exceed max 25 %"):
        gate_check(buy(notional="3000"), ctx(policy=RiskPolicy(max_open_positions=20), position_values=held))


def test_the_per_asset_cap_adds_every_market_of_the_base_asset():
    held = {"BTC/EUR": D("2500")}
    with pytest.raises(RiskRefused, match=r"max_asset_pct: BTC exposure 5\.50 % would exceed max 5 %"):
        gate_check(buy(notional="3000"), ctx(position_values=held))
    gate_check(buy(notional="2500"), ctx(position_values=held))  # exactly 5 %


@pytest.mark.parametrize(
    ("pacing", "rule", "text"),
    [
        (Pacing(trades_today=15), "max_trades_per_day", "16 trades today would exceed max 15"),
        (Pacing(trades_last_hour=5), "max_trades_per_hour", "6 trades in the last hour would exceed max 5"),
        (Pacing(new_positions_last_hour=3), "max_new_positions_per_hour", "4 new positions in the last hour"),
        (Pacing(seconds_since_last_trade=179.4), "min_seconds_between_trades", "179 s since the last trade, min 180 s"),
        (
            Pacing(seconds_since_symbol_trade={"BTC/USDT": 899}),
            "min_seconds_per_symbol",
            "899 s since the last BTC/USDT trade, min 900 s",
        ),
    ],
)
def test_pacing_refuses_entries_naming_the_numbers_and_never_delays_an_exit(pacing, rule, text):
    with pytest.raises(RiskRefused, match=rule) as caught:
        gate_check(buy(), ctx(pacing=pacing))
    assert text in str(caught.value)
    gate_check(OrderIntent(symbol="BTC/USDT", side="sell", amount=D("1"), price=D("1")), ctx(pacing=pacing))


def test_pacing_at_its_limits_passes():
    pacing = Pacing(
        trades_today=14,
        trades_last_hour=4,
        new_positions_last_hour=2,
        seconds_since_last_trade=180,
        seconds_since_symbol_trade={"BTC/USDT": 900},
    )
    gate_check(buy(), ctx(pacing=pacing))


def test_the_fee_adjusted_minimum_notional_and_dry_run_mode():
    small = OrderIntent(
        symbol="BTC/USDT", side="buy", amount=D("1"), price=D("5.00"), fee_rate=D("0.001"), min_notional=D("5")
    )
    with pytest.raises(RiskRefused, match=r"min_notional: notional 4\.9950 after fees is below the minimum 5"):
        gate_check(small, ctx())
    with pytest.raises(RiskRefused, match="mode: the account is in DRY_RUN"):
        gate_check(buy(), ctx(mode="DRY_RUN"))


def test_stale_data_is_refused_for_any_order():
    with pytest.raises(RiskRefused, match="data_freshness: price of BTC/USDT is 75 s old, limit 60 s"):
        gate_check(OrderIntent(symbol="BTC/USDT", side="sell", amount=D("1"), price=D("1")), ctx(data_age_seconds=75))
