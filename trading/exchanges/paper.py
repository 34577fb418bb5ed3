"""The paper exchange: fills orders against the feed's last price (SPEC T4).

Two slippage models:
- fixed bps (the default): a market buy pays `slippage_bps` above the last price rounded up
  to the tick, a sell receives that much below rounded down, in any size;
- depth (`depth=BookDepth(...)`): a synthetic order book around the last price, walked level
  by level; each level is one fill at its own tick-rounded price, and an order larger than
  the book fills partially (the rest expires, like an IOC market order on a thin book).

Slippage never favours us. Fees: the market's taker rate for orders that take liquidity, its
maker rate for resting limit orders filled later; each fill's fee is rounded up to 1e-8 and
charged in the quote currency. An order whose notional net of its fee is below the market's
minimum notional is rejected with the numbers, as is an amount off the lot step or outside the
lot limits (all from the ccxt market structure).
"""

import uuid
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal

from trading.exceptions import OrderRejected
from trading.markets import Market

FEE_QUANTUM = Decimal("0.00000001")
BPS = Decimal("10000")
ZERO = Decimal("0")


@dataclass(frozen=True)
class PaperFill:
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: str = "taker"
    trade_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def notional(self) -> Decimal:
        return self.price * self.amount


@dataclass(frozen=True)
class PaperExecution:
    """What one order did: its fills (one per book level), the amount asked and what rests.
    Quacks like a single fill (price = volume-weighted average) for callers that want one."""

    fills: tuple[PaperFill, ...]
    requested: Decimal
    fee_currency: str
    resting: Decimal = ZERO
    # The venue's id for the order, assigned by the exchange as a real venue does (so the
    # order row is written once, with it, instead of after its own primary key is known).
    order_id: str = field(default_factory=lambda: f"paper-{uuid.uuid4().hex}")

    @property
    def amount(self) -> Decimal:
        return sum((f.amount for f in self.fills), ZERO)

    @property
    def notional(self) -> Decimal:
        return sum((f.notional for f in self.fills), ZERO)

    @property
    def fee(self) -> Decimal:
        return sum((f.fee for f in self.fills), ZERO)

    @property
    def price(self) -> Decimal | None:
        return self.notional / self.amount if self.fills else None

    @property
    def liquidity(self) -> str:
        return self.fills[0].liquidity if self.fills else "taker"

    @property
    def trade_id(self) -> str:
        return self.fills[0].trade_id if self.fills else ""

    @property
    def complete(self) -> bool:
        return self.amount == self.requested


@dataclass(frozen=True)
class BookDepth:
    """A synthetic book: `levels` price levels per side, the first `half_spread_bps` from the
    last price and each next one `step_bps` further, each holding `level_notional` of quote."""

    levels: int = 10
    half_spread_bps: Decimal = Decimal("5")
    step_bps: Decimal = Decimal("10")
    level_notional: Decimal = Decimal("50000")


def market_fee(market: Market, *, notional: Decimal, liquidity: str = "taker") -> Decimal:
    """The fee on `notional` at the market's maker or taker rate, rounded up to FEE_QUANTUM:
    never in our favour."""
    rate = market.maker_fee if liquidity == "maker" else market.taker_fee
    return (notional * rate).quantize(FEE_QUANTUM, rounding=ROUND_UP)


@dataclass(frozen=True)
class PaperExchange:
    slippage_bps: Decimal = Decimal("5")
    depth: BookDepth | None = None

    def _level_price(self, market: Market, side: str, last_price: Decimal, bps: Decimal) -> Decimal:
        if side == "buy":
            return market.round_price(last_price * (1 + bps / BPS), up=True)
        return market.round_price(last_price * (1 - bps / BPS), up=False)

    def book(self, *, market: Market, side: str, last_price: Decimal) -> list[tuple[Decimal, Decimal | None]]:
        """The levels a `side` order takes from, best first: (price, amount or None for unlimited)."""
        if self.depth is None:
            return [(self._level_price(market, side, last_price, self.slippage_bps), None)]
        levels = []
        for i in range(self.depth.levels):
            price = self._level_price(market, side, last_price, self.depth.half_spread_bps + i * self.depth.step_bps)
            levels.append((price, market.floor_amount(self.depth.level_notional / price)))
        return levels

    def quote_price(self, *, market: Market, side: str, last_price: Decimal) -> Decimal:
        """The best price a market order of `side` fills at now."""
        return self.book(market=market, side=side, last_price=last_price)[0][0]

    def fee_for(self, *, market: Market, notional: Decimal, liquidity: str = "taker") -> Decimal:
        return market_fee(market, notional=notional, liquidity=liquidity)

    def _check_amount(self, market: Market, amount: Decimal) -> None:
        if amount < market.min_amount or amount <= 0 or market.floor_amount(amount) != amount:
            raise OrderRejected(
                f"amount {amount} {market.base} is below the minimum {market.min_amount} "
                f"or off the step {market.amount_step}"
            )
        if market.max_amount is not None and amount > market.max_amount:
            raise OrderRejected(f"amount {amount} {market.base} is above the maximum {market.max_amount}")

    def _check_notional(self, market: Market, notional: Decimal, fee: Decimal) -> None:
        if notional - fee < market.min_notional:
            raise OrderRejected(
                f"notional {notional:.2f} {market.quote} after fee {fee} is below the minimum "
                f"{market.min_notional} {market.quote}"
            )

    def _check_funds(self, market: Market, side: str, cost: Decimal, available_quote: Decimal | None) -> None:
        if side == "buy" and available_quote is not None and cost > available_quote:
            raise OrderRejected(
                f"insufficient funds: {cost:.2f} {market.quote} needed, {available_quote:.2f} available"
            )

    def _take(self, market: Market, side: str, amount: Decimal, last_price: Decimal, limit: Decimal | None):
        """Walk the book for up to `amount`, not past `limit`; returns the taker fills."""
        fills, remaining = [], amount
        for price, available in self.book(market=market, side=side, last_price=last_price):
            if remaining <= 0 or (limit is not None and (price > limit if side == "buy" else price < limit)):
                break
            take = remaining if available is None else min(remaining, available)
            if take <= 0:
                continue
            fee = self.fee_for(market=market, notional=price * take)
            fills.append(PaperFill(price=price, amount=take, fee=fee, fee_currency=market.quote))
            remaining -= take
        return tuple(fills)

    def execute_market(
        self, *, market: Market, side: str, amount: Decimal, last_price: Decimal, available_quote: Decimal | None = None
    ) -> PaperExecution:
        """Fill `amount` (already on the market's amount step) against the book, partially
        when the book is thinner than the order, or raise OrderRejected. A buy also needs
        `available_quote` to cover what fills plus its fee."""
        self._check_amount(market, amount)
        execution = PaperExecution(
            self._take(market, side, amount, last_price, None), requested=amount, fee_currency=market.quote
        )
        self._check_notional(market, execution.notional, execution.fee)
        self._check_funds(market, side, execution.notional + execution.fee, available_quote)
        return execution

    def execute_limit(
        self,
        *,
        market: Market,
        side: str,
        amount: Decimal,
        price: Decimal,
        last_price: Decimal,
        available_quote: Decimal | None = None,
    ) -> PaperExecution:
        """A limit order: the marketable part fills now as taker (never past `price`), the
        rest rests on the book (`resting`) to fill later as maker through `fill_resting`."""
        self._check_amount(market, amount)
        if market.round_price(price, up=False) != price:
            raise OrderRejected(f"price {price} is off the tick {market.price_step}")
        if (market.min_price and price < market.min_price) or (market.max_price and price > market.max_price):
            raise OrderRejected(f"price {price} is outside [{market.min_price}, {market.max_price}]")
        notional = price * amount
        self._check_notional(market, notional, self.fee_for(market=market, notional=notional))
        self._check_funds(market, side, notional + self.fee_for(market=market, notional=notional), available_quote)
        fills = self._take(market, side, amount, last_price, price)
        filled = sum((f.amount for f in fills), ZERO)
        return PaperExecution(fills, requested=amount, fee_currency=market.quote, resting=amount - filled)

    def fill_resting(
        self, *, market: Market, side: str, amount: Decimal, price: Decimal, last_price: Decimal
    ) -> PaperExecution:
        """A resting limit order fills in full at its own price, as maker, once the last
        price trades through it; otherwise nothing fills."""
        crossed = last_price <= price if side == "buy" else last_price >= price
        if not crossed:
            return PaperExecution((), requested=amount, fee_currency=market.quote, resting=amount)
        fee = self.fee_for(market=market, notional=price * amount, liquidity="maker")
        fill = PaperFill(price=price, amount=amount, fee=fee, fee_currency=market.quote, liquidity="maker")
        return PaperExecution((fill,), requested=amount, fee_currency=market.quote)
