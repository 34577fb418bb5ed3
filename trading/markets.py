"""Market structures: precision and limits per symbol, as Decimals.

These few markets mirror Binance spot's published filters. The trading-engine issue replaces
this table with ccxt's own parsing of a stored exchange-info document (SPEC T4/T5); the
Market type and its rounding rules stay.
"""

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class Market:
    symbol: str
    base: str
    quote: str
    amount_step: Decimal
    price_step: Decimal
    min_amount: Decimal
    min_notional: Decimal
    taker_fee: Decimal
    maker_fee: Decimal

    def floor_amount(self, amount: Decimal) -> Decimal:
        return (amount / self.amount_step).to_integral_value(ROUND_FLOOR) * self.amount_step

    def round_price(self, price: Decimal, *, up: bool) -> Decimal:
        rounding = ROUND_CEILING if up else ROUND_FLOOR
        return (price / self.price_step).to_integral_value(rounding) * self.price_step


def _spot(symbol: str, amount_step: str, price_step: str, min_amount: str) -> Market:
    base, quote = symbol.split("/")
    return Market(
        symbol=symbol,
        base=base,
        quote=quote,
        amount_step=Decimal(amount_step),
        price_step=Decimal(price_step),
        min_amount=Decimal(min_amount),
        min_notional=Decimal("5"),
        taker_fee=Decimal("0.001"),
        maker_fee=Decimal("0.001"),
    )


MARKETS: dict[str, Market] = {
    m.symbol: m
    for m in (
        _spot("BTC/USDT", "0.00001", "0.01", "0.00001"),
        _spot("ETH/USDT", "0.0001", "0.01", "0.0001"),
        _spot("SOL/USDT", "0.001", "0.01", "0.001"),
    )
}


class UnknownMarket(KeyError):
    pass


def market_get(symbol: str) -> Market:
    try:
        return MARKETS[symbol]
    except KeyError:
        raise UnknownMarket(f"unknown market {symbol!r}; known: {', '.join(sorted(MARKETS))}") from None
