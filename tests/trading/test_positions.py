from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.positions import PositionState, cash_delta, position_apply_fill

D = Decimal


def test_average_cost_includes_buy_fees_and_a_sell_realizes_net_of_its_fee():
    state = position_apply_fill(PositionState(), side="buy", amount=D("2"), price=D("100"), fee=D("0.20"))
    assert state.average_cost == D("100.1")
    state = position_apply_fill(state, side="buy", amount=D("2"), price=D("110"), fee=D("0.22"))
    assert state.quantity == D("4") and state.average_cost == D("105.105")
    state = position_apply_fill(state, side="sell", amount=D("3"), price=D("120"), fee=D("0.36"))
    # (120 - 105.105) x 3 - 0.36 = 44.325
    assert state.realized_pnl == D("44.325")
    assert state.quantity == D("1") and state.average_cost == D("105.105")


def test_closing_resets_the_average_cost():
    state = position_apply_fill(PositionState(), side="buy", amount=D("1"), price=D("50"), fee=D("0"))
    state = position_apply_fill(state, side="sell", amount=D("1"), price=D("40"), fee=D("0.04"))
    assert state == PositionState(quantity=D("0"), average_cost=D("0"), realized_pnl=D("-10.04"))


def test_selling_more_than_held_is_refused():
    with pytest.raises(ValueError, match="exceeds the position"):
        position_apply_fill(PositionState(), side="sell", amount=D("1"), price=D("1"), fee=D("0"))


fills = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.decimals(min_value=D("0.001"), max_value=D("10"), places=3),
        st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=1500, deadline=None)
@given(fills=fills)
def test_pnl_is_conserved_across_any_fill_sequence(fills):
    """Cash spent and received equals realized P&L minus the cost still held, within the
    storage quantum per fill: no money appears or vanishes in the position arithmetic."""
    state, cash, booked = PositionState(), D("0"), 0
    for side, amount, price in fills:
        if side == "sell":
            amount = min(amount, state.quantity)
            if amount == 0:
                continue
        fee = (amount * price * D("0.001")).quantize(D("0.00000001"))
        state = position_apply_fill(state, side=side, amount=amount, price=price, fee=fee)
        cash += cash_delta(side=side, amount=amount, price=price, fee=fee)
        booked += 1
        assert state.quantity >= 0
    held_cost = state.quantity * state.average_cost
    tolerance = D("0.0000000001") * booked * (1 + state.quantity + sum(a for _, a, _ in fills))
    assert abs(cash - (state.realized_pnl - held_cost)) <= tolerance


def test_a_fee_in_the_base_asset_reduces_the_position_and_never_the_cash():
    # Buy 1 BTC at 100 with a 0.001 BTC fee: 0.999 BTC held for the 100 paid.
    state = position_apply_fill(
        PositionState(), side="buy", amount=D("1"), price=D("100"), fee=D("0.001"), fee_in_base=True
    )
    assert state.quantity == D("0.999") and state.average_cost == D("100.1001001001")
    assert cash_delta(side="buy", amount=D("1"), price=D("100"), fee=D("0.001"), fee_in_base=True) == D("-100")
    # Sell 0.5 at 120 with a 0.0005 BTC fee: 0.5005 BTC leave, the fee's coins at their cost.
    state = position_apply_fill(state, side="sell", amount=D("0.5"), price=D("120"), fee=D("0.0005"), fee_in_base=True)
    assert state.quantity == D("0.4985")
    assert state.realized_pnl == D("9.8998998999")  # (120 - 100.1001001001) x 0.5 - 0.0005 x 100.1001001001
    assert cash_delta(side="sell", amount=D("0.5"), price=D("120"), fee=D("0.0005"), fee_in_base=True) == D("60")
    with pytest.raises(ValueError, match="exceeds the position"):
        position_apply_fill(state, side="sell", amount=D("0.4985"), price=D("1"), fee=D("0.0001"), fee_in_base=True)
