"""Position arithmetic from fills: pure functions, shared by the engine and the rebuild.

Average cost includes buy fees; a sell realizes (price - average cost) x amount minus its fee.
Values are quantized to the storage precision so the in-memory result equals the stored row.

A fee is normally charged in the quote currency. Exchanges may charge it in the base asset
instead (Binance takes a buy's fee from the coins received): then it is a quantity of coins,
not money. It reduces the position (a buy of 1 BTC with a 0.001 BTC fee holds 0.999 BTC, at a
cost of the whole quote paid; a sell gives up its amount plus the fee, whose coins leave at
their average cost) and never touches the cash.
"""

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

STORE_QUANTUM = Decimal("0.0000000001")  # MONEY decimal_places = 10
ZERO = Decimal("0")


def q(value: Decimal) -> Decimal:
    return value.quantize(STORE_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class PositionState:
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO


def fee_in_base(*, symbol: str, fee_currency: str) -> bool:
    """Whether a fill's fee was charged in the symbol's base asset ("BTC" of "BTC/USDT")."""
    return bool(fee_currency) and fee_currency == symbol.split("/")[0]


def fee_in_quote(*, symbol: str, fee: Decimal, fee_currency: str, price: Decimal) -> Decimal:
    """A fill's fee in the quote currency: as charged when in the quote currency; when charged
    in the base asset, the coins valued at the fill's price, rounded up to the cent (as the
    paper exchange rounds fees: never in our favour)."""
    if fee_in_base(symbol=symbol, fee_currency=fee_currency):
        return (fee * price).quantize(Decimal("0.01"), rounding=ROUND_UP)
    return fee


def position_apply_fill(
    state: PositionState, *, side: str, amount: Decimal, price: Decimal, fee: Decimal, fee_in_base: bool = False
) -> PositionState:
    quote_fee, base_fee = (ZERO, fee) if fee_in_base else (fee, ZERO)
    if side == "buy":
        quantity = state.quantity + amount - base_fee
        if quantity <= 0:
            raise ValueError(f"a buy of {amount} with a fee of {fee} in the base asset leaves nothing")
        cost = state.quantity * state.average_cost + amount * price + quote_fee
        return replace(state, quantity=quantity, average_cost=q(cost / quantity))
    if amount + base_fee > state.quantity:
        raise ValueError(f"sell of {amount} (+ {base_fee} fee in coins) exceeds the position of {state.quantity}")
    # Coins paid as fee leave at their average cost: a realized loss of that cost.
    realized = (price - state.average_cost) * amount - quote_fee - base_fee * state.average_cost
    quantity = state.quantity - amount - base_fee
    return PositionState(
        quantity=quantity,
        average_cost=state.average_cost if quantity else ZERO,
        realized_pnl=q(state.realized_pnl + realized),
    )


def cash_delta(*, side: str, amount: Decimal, price: Decimal, fee: Decimal, fee_in_base: bool = False) -> Decimal:
    notional = amount * price
    quote_fee = ZERO if fee_in_base else fee
    return -(notional + quote_fee) if side == "buy" else notional - quote_fee
