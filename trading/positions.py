"""Position arithmetic from fills: pure functions, shared by the engine and the rebuild.

Average cost includes buy fees; a sell realizes (price - average cost) x amount minus its fee.
Values are quantized to the storage precision so the in-memory result equals the stored row.

A fee is normally charged in the quote currency. Exchanges may charge it in the base asset
instead (Binance takes a buy's fee from the coins received): then it is a quantity of coins,
not money. It reduces the position (a buy of 1 BTC with a 0.001 BTC fee holds 0.999 BTC, at a
cost of the whole quote paid; a sell gives up its amount plus the fee, whose coins leave at
their average cost) and never touches the cash. A fee charged in a third currency (BNB on
BTC/USDT) is booked as the quote money it was worth at the fill (Fill.fee_quote, `fee_terms`).

Dust. A base-asset fee leaves a position off the market's lot step (buy 0.00999 BTC, fee
0.00000999 BTC: hold 0.00998001). A sell can only take the largest amount on the step that the
exchange accepts (`sellable_amount`); what is left below the lot step, the minimum amount or the
minimum notional can never be sold by itself. Such a position is dust (`is_dust`): closed for
exposure, risk and flatten, its quantity kept (it merges into the next buy of the symbol).
"""

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from trading.exchanges.paper import FEE_QUANTUM, market_fee
from trading.markets import Market, UnknownMarket, market_get

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


def fee_in_third(*, symbol: str, fee_currency: str) -> bool:
    """Whether a fill's fee was charged in neither its base nor its quote (BNB on BTC/USDT)."""
    base, _, quote = symbol.partition("/")
    return bool(fee_currency) and fee_currency not in (base, quote)


def fee_in_quote(
    *, symbol: str, fee: Decimal, fee_currency: str, price: Decimal, fee_quote: Decimal | None = None
) -> Decimal | None:
    """A fill's fee in the quote currency: as charged when in the quote currency; when charged
    in the base asset, the coins valued at the fill's price, rounded up to the cent (as the
    paper exchange rounds fees: never in our favour); when charged in a third currency, its
    quote value stored with the fill (`fee_quote`), None when the fill found no price for it."""
    if fee_in_base(symbol=symbol, fee_currency=fee_currency):
        return (fee * price).quantize(Decimal("0.01"), rounding=ROUND_UP)
    if fee and fee_in_third(symbol=symbol, fee_currency=fee_currency):
        return fee_quote
    return fee


def fee_terms(
    *, symbol: str, fee: Decimal, fee_currency: str, fee_quote: Decimal | None = None
) -> dict[str, Decimal | bool]:
    """The `fee` and `fee_in_base` arguments of position_apply_fill and cash_delta for a stored
    fill: coins for a base-asset fee; money for a quote fee; for a third-currency fee its quote
    value at the fill (`fee_quote`): the cash that bought the BNB it used is spent, and P&L
    carries it as a quote fee. An unpriced one counts as 0 (the fill is flagged fee_unpriced)."""
    if fee_in_base(symbol=symbol, fee_currency=fee_currency):
        return {"fee": fee, "fee_in_base": True}
    if fee and fee_in_third(symbol=symbol, fee_currency=fee_currency):
        return {"fee": fee_quote or ZERO, "fee_in_base": False}
    return {"fee": fee, "fee_in_base": False}


def fee_quote_value(*, fee: Decimal, rate: Decimal) -> Decimal:
    """A third-currency fee's quote value at `rate` (quote per fee-currency unit), rounded up
    to 1e-8 as fees are: never understated."""
    return (fee * rate).quantize(FEE_QUANTUM, rounding=ROUND_UP)


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


def sellable_amount(market: Market, *, quantity: Decimal, price: Decimal) -> Decimal:
    """The largest part of `quantity` one market sell at `price` can take: floored to the lot
    step, and zero when that is below the market's minimum amount or its notional net of the
    taker fee is below the minimum notional (the paper exchange's check, SPEC T4)."""
    amount = market.floor_amount(quantity)
    notional = amount * price
    fee = market_fee(market, notional=notional)
    if amount <= 0 or amount < market.min_amount or notional - fee < market.min_notional:
        return ZERO
    return amount


def is_dust(market: Market, *, quantity: Decimal, price: Decimal) -> bool:
    """Whether a held `quantity` is dust at `price`: something held, nothing of it sellable."""
    return quantity > 0 and sellable_amount(market, quantity=quantity, price=price) == 0


def symbol_dust(symbol: str, *, quantity: Decimal, price: Decimal) -> bool:
    """`is_dust` on the stored market of `symbol`; a symbol outside the stored markets (adopted
    from the exchange) is never called dust."""
    try:
        market = market_get(symbol)
    except UnknownMarket:
        return False
    return is_dust(market, quantity=quantity, price=price)
