"""The paper exchange: fills market orders against the feed's last price (SPEC T4).

Slippage never favours us: a buy pays `slippage_bps` above the last price rounded up to the
tick, a sell receives that much below rounded down. The fee is the market's taker rate on
the notional, rounded up to 1e-8 of the quote currency, charged in the quote currency.
"""

import uuid
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal

from trading.exceptions import OrderRejected
from trading.markets import Market

FEE_QUANTUM = Decimal("0.00000001")
BPS = Decimal("10000")


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
class PaperExchange:
    slippage_bps: Decimal = Decimal("5")

    def quote_price(self, *, market: Market, side: str, last_price: Decimal) -> Decimal:
        """The price a market order of `side` fills at now."""
        shift = self.slippage_bps / BPS
        if side == "buy":
            return market.round_price(last_price * (1 + shift), up=True)
        return market.round_price(last_price * (1 - shift), up=False)

    def fee_for(self, *, market: Market, notional: Decimal) -> Decimal:
        return (notional * market.taker_fee).quantize(FEE_QUANTUM, rounding=ROUND_UP)

    def execute_market(
        self, *, market: Market, side: str, amount: Decimal, last_price: Decimal, available_quote: Decimal | None = None
    ) -> PaperFill:
        """Fill `amount` (already on the market's amount step) or raise OrderRejected.
        A buy also needs `available_quote` to cover its notional and fee."""
        if amount < market.min_amount or market.floor_amount(amount) != amount:
            raise OrderRejected(
                f"amount {amount} {market.base} is below the minimum {market.min_amount} "
                f"or off the step {market.amount_step}"
            )
        price = self.quote_price(market=market, side=side, last_price=last_price)
        notional = price * amount
        fee = self.fee_for(market=market, notional=notional)
        if notional - fee < market.min_notional:
            raise OrderRejected(
                f"notional {notional:.2f} {market.quote} after fee {fee} is below the minimum "
                f"{market.min_notional} {market.quote}"
            )
        if side == "buy" and available_quote is not None and notional + fee > available_quote:
            raise OrderRejected(
                f"insufficient funds: {notional + fee:.2f} {market.quote} needed, {available_quote:.2f} available"
            )
        return PaperFill(price=price, amount=amount, fee=fee, fee_currency=market.quote)
