from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from risk.policy import RiskPolicy, Sizing
from risk.sizing import kelly_share, position_value

D = Decimal
EQUITY = D("100000")


def policy(**sizing) -> RiskPolicy:
    return RiskPolicy(sizing=Sizing(**sizing))


def test_fixed_uses_the_risk_budget_within_the_caps():
    assert position_value(policy=policy(), equity=EQUITY, risk_budget=D("0.02")) == D("2000")
    assert position_value(policy=policy(), equity=EQUITY, risk_budget=D("0.10")) == D("3000")  # max_size 3 %
    assert position_value(policy=policy(), equity=EQUITY, risk_budget=D("0.004")) == 0  # under min_size 0.5 %


def test_volatility_scales_down_only_above_the_target():
    p = policy(method="volatility", target_volatility_pct=D("0.2"))
    assert position_value(policy=p, equity=EQUITY, risk_budget=D("0.02"), volatility_pct=D("0.4")) == D("1000")
    assert position_value(policy=p, equity=EQUITY, risk_budget=D("0.02"), volatility_pct=D("0.1")) == D("2000")
    # so volatile that the scaled share falls under the minimum size: no order
    assert position_value(policy=p, equity=EQUITY, risk_budget=D("0.02"), volatility_pct=D("1")) == 0


def test_kelly_share_by_hand():
    # W = 0.6, R = 150 / 100 = 1.5 -> 0.6 - 0.4 / 1.5 = 0.3333...
    share = kelly_share([D("150")] * 6, [D("-100")] * 4)
    assert share.quantize(D("0.0001")) == D("0.3333")
    assert kelly_share([D("100")], []) == 0 and kelly_share([D("50")], [D("-100")] * 3) == 0  # negative edge


def test_fractional_kelly_with_enough_trades_and_the_fallback_without():
    p = policy(method="kelly", kelly_fraction=D("0.05"), kelly_min_trades=10, max_size_pct=D("3"))
    pnls = [D("150")] * 6 + [D("-100")] * 4
    assert position_value(policy=p, equity=EQUITY, risk_budget=D("0.03"), trade_pnls=pnls).quantize(D("1")) == D("1667")
    assert position_value(policy=p, equity=EQUITY, risk_budget=D("0.03"), trade_pnls=pnls[:5]) == D("500")


def test_order_value_limits():
    assert position_value(policy=policy(max_order_usd=D("1500")), equity=EQUITY, risk_budget=D("0.03")) == D("1500")
    assert position_value(policy=policy(min_order_usd=D("5000")), equity=EQUITY, risk_budget=D("0.03")) == 0


@settings(max_examples=3000, deadline=None)
@given(
    equity=st.decimals(D("1"), D("10000000"), places=2),
    budget=st.decimals(D("0"), D("1"), places=4),
    vol=st.decimals(D("0.0001"), D("20"), places=4),
    method=st.sampled_from(["fixed", "volatility", "kelly"]),
    pnls=st.lists(st.decimals(D("-1000"), D("1000"), places=2), max_size=60),
)
def test_no_size_ever_breaches_a_limit(equity, budget, vol, method, pnls):
    p = RiskPolicy(sizing=Sizing(method=method, kelly_min_trades=10))
    value = position_value(policy=p, equity=equity, risk_budget=budget, volatility_pct=vol, trade_pnls=pnls)
    assert value == 0 or p.sizing.min_order_usd <= value <= p.sizing.max_order_usd
    assert value <= equity * min(p.sizing.max_size_pct, p.max_position_pct) / 100
