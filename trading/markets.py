"""Market structures: precision and limits per symbol, as Decimals (SPEC T4).

The markets come from a stored Binance spot exchange-info document
(trading/exchanges/data/binance_exchange_info.json), parsed by ccxt's own binance market
parser: the same document the exchange emulator serves, so the paper exchange, the emulator
and a live ccxt client agree on every tick size, lot step and minimum notional. ccxt reports
precision and limits as floats; they become Decimals here, at the boundary, through ccxt's
own float-to-string conversion (never `Decimal(float)`).
"""

import json
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import cache
from pathlib import Path

import ccxt

EXCHANGE_INFO_PATH = Path(__file__).resolve().parent / "exchanges" / "data" / "binance_exchange_info.json"


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
    id: str = ""
    max_amount: Decimal | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    max_notional: Decimal | None = None

    def floor_amount(self, amount: Decimal) -> Decimal:
        return (amount / self.amount_step).to_integral_value(ROUND_FLOOR) * self.amount_step

    def round_price(self, price: Decimal, *, up: bool) -> Decimal:
        rounding = ROUND_CEILING if up else ROUND_FLOOR
        return (price / self.price_step).to_integral_value(rounding) * self.price_step


class UnknownMarket(KeyError):
    pass


def exchange_info_document() -> dict:
    """The stored Binance `GET /api/v3/exchangeInfo` response (also served by the emulator)."""
    return json.loads(EXCHANGE_INFO_PATH.read_text())


def _decimal(client: ccxt.Exchange, value: float | None) -> Decimal | None:
    return None if value is None else Decimal(client.number_to_string(value))


def market_from_ccxt(client: ccxt.Exchange, market: dict) -> Market:
    """Our Market from one ccxt unified market structure (floats converted to Decimal)."""
    limits, precision = market["limits"], market["precision"]
    return Market(
        symbol=market["symbol"],
        base=market["base"],
        quote=market["quote"],
        id=market["id"],
        amount_step=_decimal(client, precision["amount"]),
        price_step=_decimal(client, precision["price"]),
        min_amount=_decimal(client, limits["amount"]["min"]) or Decimal("0"),
        max_amount=_decimal(client, limits["amount"]["max"]),
        min_price=_decimal(client, limits["price"]["min"]),
        max_price=_decimal(client, limits["price"]["max"]),
        min_notional=_decimal(client, limits["cost"]["min"]) or Decimal("0"),
        max_notional=_decimal(client, limits["cost"]["max"]),
        taker_fee=_decimal(client, market["taker"]),
        maker_fee=_decimal(client, market["maker"]),
    )


def ccxt_markets_parse(document: dict) -> list[dict]:
    """ccxt's binance parser over an exchange-info document, exactly as `fetch_markets` runs
    it after `GET /api/v3/exchangeInfo` (spot only, no margin pair lists)."""
    client = ccxt.binance({"options": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False}})
    client.options["crossMarginPairsData"] = []
    client.options["isolatedMarginPairsData"] = []
    return [m for m in client.parse_markets(document["symbols"]) if m and m["spot"]]


@cache
def markets_all() -> dict[str, Market]:
    client = ccxt.binance()
    return {m["symbol"]: market_from_ccxt(client, m) for m in ccxt_markets_parse(exchange_info_document())}


def market_get(symbol: str) -> Market:
    markets = markets_all()
    try:
        return markets[symbol]
    except KeyError:
        raise UnknownMarket(f"unknown market {symbol!r}; known: {', '.join(sorted(markets))}") from None
