"""Position arithmetic from fills: pure functions, shared by the engine and the rebuild.

Average cost includes buy fees; a sell realizes (price - average cost) x amount minus its fee.
Values are quantized to the storage precision so the in-memory result equals the stored row.
"""

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

STORE_QUANTUM = Decimal("0.0000000001")  # MONEY decimal_places = 10
ZERO = Decimal("0")


def q(value: Decimal) -> Decimal:
    return value.quantize(STORE_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class PositionState:
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO


def position_apply_fill(
    state: PositionState, *, side: str, amount: Decimal, price: Decimal, fee: Decimal
) -> PositionState:
    if side == "buy":
        quantity = state.quantity + amount
        cost = state.quantity * state.average_cost + amount * price + fee
        return replace(state, quantity=quantity, average_cost=q(cost / quantity))
    if amount > state.quantity:
        raise ValueError(f"sell of {amount} exceeds the position of {state.quantity}")
    realized = (price - state.average_cost) * amount - fee
    quantity = state.quantity - amount
    return PositionState(
        quantity=quantity,
        average_cost=state.average_cost if quantity else ZERO,
        realized_pnl=q(state.realized_pnl + realized),
    )


def cash_delta(*, side: str, amount: Decimal, price: Decimal, fee: Decimal) -> Decimal:
    notional = amount * price
    return -(notional + fee) if side == "buy" else notional - fee
