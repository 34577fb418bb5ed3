"""Tax lots (SPEC C3): FIFO, LIFO and HIFO matching of an account's fills, per symbol.

A buy opens a lot whose cost basis is amount x price + fee. A sell consumes the open lots of its
symbol in the method's order, taking part of a lot when it needs less than the lot holds:

    FIFO  oldest lot first
    LIFO  newest lot first
    HIFO  highest cost per unit (basis / quantity received, buy fee included) first; equal costs
          go oldest first

Each piece of a sale taken from one lot is a RealizedLot: its quantity, its share of the lot's
basis, its proceeds (quantity x sell price minus its share of the sell fee), the gain (proceeds -
basis) and the holding period.

Fee currency. A fee is normally in the quote currency, and then it is money: a buy's fee adds to
the lot's basis, a sell's fee reduces the proceeds. An exchange may instead charge it in the base
asset (Binance takes a buy's fee from the coins received); the fee is then a quantity of coins,
and the lots follow trading.positions (the engine's arithmetic), so that the open lots always hold
exactly the position's quantity:

    buy   the lot holds the coins received, amount - fee, and its basis is the whole quote paid,
          amount x price: the fee is capitalised into the basis of the coins received. A base fee
          that leaves nothing (fee >= amount) is refused.
    sell  the sale disposes of amount + fee coins: the lots are consumed for amount + fee, and
          the coins given up as fee bring no proceeds. Each piece carries its share of the fee
          coins (split like a quote fee, below) and its proceeds are (quantity - fee coins) x
          price: the fee coins valued at the sale price reduce the proceeds, so the sale's
          proceeds add up to amount x price, and its gains to amount x price - the basis of the
          amount + fee coins taken. trading.positions books the same thing as (price - average
          cost) x amount - fee x average cost.

A fee in any other currency (e.g. BNB) is money too: its quote value at the fill, stored with the
fill (Fill.fee_quote, as trading.positions books it), is the fee. A fill that found no price for
it (Fill.fee_unpriced) has no basis here: the DB reader refuses it.

Rounding rule. Sums, differences and products are exact: they run in a 120-digit context that
traps Inexact, so a value that would need rounding raises instead of drifting. The only division
is a proportional share (of a lot's remaining basis, or of a sell's remaining fee, in money or in
coins), rounded DOWN to 10 decimal places (the storage precision); the piece that empties the
lot, or that ends the sale, takes the exact remainder. Hence the pieces of a basis or a fee add up
to the whole, exactly; no share is negative or larger than what remains; and for any fills
sum(gains) - sum(open basis) == sum(sell amount x price - quote fee) - sum(buy amount x price +
quote fee): the cash the trades moved (a base-asset fee moves no cash).

Holding period: `holding_days` is the whole days elapsed from the buy to the sell; the term is
long when the time held is more than 365 days (365 days and one second is long, 365 days short).
"""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import (
    ROUND_DOWN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

from compliance.exceptions import ComplianceError
from trading.models import Fill, OrderSide, TaxLotMethod, TradingAccount
from trading.positions import STORE_QUANTUM, fee_in_base
from trading.serializers import dec

METHODS: tuple[str, ...] = tuple(TaxLotMethod.values)
LONG_TERM_AFTER = timedelta(days=365)
SHARE_QUANTUM = STORE_QUANTUM
ZERO = Decimal("0")
SHORT, LONG = "short", "long"
REALIZED_LOT_COLUMNS = (
    "symbol",
    "buy_fill_id",
    "sell_fill_id",
    "quantity",
    "acquired_at_utc",
    "disposed_at_utc",
    "holding_days",
    "term",
    "cost_basis",
    "proceeds",
    "gain",
)
# Two stored values (28 digits each) multiply into at most 56 digits: 120 leaves room for sums.
_EXACT = Context(prec=120, rounding=ROUND_DOWN, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
# Same precision without the Inexact trap: only proportional_share rounds, and only down.
_SHARE = Context(prec=120, rounding=ROUND_DOWN, traps=[InvalidOperation, DivisionByZero, Overflow])


class TaxLotError(ComplianceError):
    code = "tax_lot_error"


class TaxLotMethodUnknown(TaxLotError, ValueError):
    """A lot matching method other than FIFO, LIFO or HIFO; the message names the allowed ones."""

    code = "tax_lot_method_unknown"


class TaxLotOversold(TaxLotError):
    """A sell larger than the open lots of its symbol; the message names both quantities."""

    code = "tax_lot_oversold"


class TaxLotFeeCurrency(TaxLotError):
    """A fill whose fee is in neither the quote currency nor the base asset, so it has no basis."""

    code = "tax_lot_fee_currency"


# --- Records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotFill:
    """One fill as lot matching sees it. `fee_in_base`: the fee is a quantity of the base asset
    (coins), not quote money. Refuses a side other than buy/sell, a non-Decimal or non-positive
    amount or price, a non-Decimal or negative fee, and a buy whose base-asset fee leaves no coins."""

    fill_id: int
    symbol: str
    side: str
    amount: Decimal
    price: Decimal
    fee: Decimal
    ts: datetime
    fee_in_base: bool = False

    def __post_init__(self):
        if self.side not in (OrderSide.BUY, OrderSide.SELL):
            raise ValueError(f"fill {self.fill_id}: side must be buy or sell, not {self.side!r}")
        _money_check(self.fill_id, "amount", self.amount, allow_zero=False)
        _money_check(self.fill_id, "price", self.price, allow_zero=False)
        _money_check(self.fill_id, "fee", self.fee, allow_zero=True)
        if self.fee_in_base and self.side == OrderSide.BUY and self.fee >= self.amount:
            raise ValueError(
                f"fill {self.fill_id}: a fee of {self.fee} in the base asset leaves nothing of a buy of {self.amount}"
            )

    @property
    def quote_fee(self) -> Decimal:
        """The fee in quote money (zero when it was charged in coins)."""
        return ZERO if self.fee_in_base else self.fee

    @property
    def base_fee(self) -> Decimal:
        """The fee in coins of the base asset (zero when it was charged in quote money)."""
        return self.fee if self.fee_in_base else ZERO

    @property
    def quantity(self) -> Decimal:
        """Coins this fill moves: a buy receives amount - base fee, a sell gives up amount + base fee."""
        return self.amount - self.base_fee if self.side == OrderSide.BUY else self.amount + self.base_fee


def _money_check(fill_id: int, name: str, value: object, *, allow_zero: bool) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"fill {fill_id}: {name} must be a finite Decimal, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"fill {fill_id}: {name} must be {'>= 0' if allow_zero else '> 0'}, not {value}")


@dataclass(frozen=True)
class OpenLot:
    """A buy and what is left of it. `quantity` and `cost_basis` are as bought (the coins received,
    net of a base-asset fee; the quote paid, fee included); the remaining basis is the basis less
    the shares already realized."""

    buy_fill_id: int
    symbol: str
    acquired_at: datetime
    quantity: Decimal
    cost_basis: Decimal
    remaining_quantity: Decimal
    remaining_basis: Decimal


@dataclass(frozen=True)
class RealizedLot:
    """The part of one sell matched to one lot. gain == proceeds - cost_basis, exactly.
    `quantity` is the coins taken from the lot, including this piece's share of a base-asset fee."""

    buy_fill_id: int
    sell_fill_id: int
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    proceeds: Decimal
    gain: Decimal
    acquired_at: datetime
    disposed_at: datetime

    @property
    def holding_days(self) -> int:
        return (self.disposed_at - self.acquired_at).days

    @property
    def term(self) -> str:
        return LONG if self.disposed_at - self.acquired_at > LONG_TERM_AFTER else SHORT


@dataclass(frozen=True)
class TaxLotReport:
    """Realized pieces in disposal order, and open lots by symbol then age, with exact totals."""

    method: str
    realized: tuple[RealizedLot, ...]
    open_lots: tuple[OpenLot, ...]
    realized_gain: Decimal
    open_basis: Decimal


# --- Matching (pure) -------------------------------------------------------------------------


def tax_lot_method_check(method: str) -> str:
    """`method` if it is FIFO, LIFO or HIFO; otherwise TaxLotMethodUnknown (a ValueError)."""
    if method not in METHODS:
        raise TaxLotMethodUnknown(f"Unknown tax lot method {method!r}: use one of {', '.join(METHODS)}.")
    return str(method)


def proportional_share(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """amount x part / whole rounded down to SHARE_QUANTUM, or all of `amount` when part == whole.
    For 0 <= part <= whole and amount >= 0 the share is between 0 and `amount`."""
    if part == whole:
        return amount
    exact = _SHARE.divide(_SHARE.multiply(amount, part), whole)
    return exact.quantize(SHARE_QUANTUM, context=_SHARE)


def lots_match(fills: Iterable[LotFill], method: str) -> TaxLotReport:
    """Match sells to lots by `method`, each symbol on its own. Fills are taken in (ts, fill_id)
    order whatever order they come in. Raises TaxLotOversold when a sell exceeds the open lots of
    its symbol, TaxLotMethodUnknown for an unknown method. Exact: see the module's rounding rule."""
    method = tax_lot_method_check(method)
    books: dict[str, list[OpenLot]] = {}
    realized: list[RealizedLot] = []
    ordered = sorted(fills, key=lambda f: (f.ts, f.fill_id))  # outside the trapping context: may read the DB
    with localcontext(_EXACT):
        for fill in ordered:
            lots = books.setdefault(fill.symbol, [])
            if fill.side == OrderSide.BUY:
                lots.append(_lot_open(fill))
            else:
                realized.extend(_sell_match(lots, fill, method))
        open_lots = sorted((lot for lots in books.values() for lot in lots), key=_lot_age)
        return TaxLotReport(
            method=method,
            realized=tuple(realized),
            open_lots=tuple(open_lots),
            realized_gain=sum((row.gain for row in realized), ZERO),
            open_basis=sum((lot.remaining_basis for lot in open_lots), ZERO),
        )


def _lot_age(lot: OpenLot) -> tuple:
    return (lot.symbol, lot.acquired_at, lot.buy_fill_id)


def _lot_open(buy: LotFill) -> OpenLot:
    basis = buy.amount * buy.price + buy.quote_fee
    quantity = buy.quantity
    return OpenLot(buy.fill_id, buy.symbol, buy.ts, quantity, basis, quantity, basis)


def _sell_match(lots: list[OpenLot], sell: LotFill, method: str) -> list[RealizedLot]:
    """Consume `lots` (one symbol's open lots, oldest first; changed in place) for `sell`: for its
    amount, plus its fee when that is in coins. The sell fee (money or coins) is shared over the
    pieces, the last piece taking what is left of it."""
    held = sum((lot.remaining_quantity for lot in lots), ZERO)
    if sell.quantity > held:
        fee_coins = f" (+ {dec(sell.base_fee)} fee)" if sell.base_fee else ""
        raise TaxLotOversold(
            f"Fill {sell.fill_id} sells {dec(sell.amount)}{fee_coins} {sell.symbol} "
            f"but the open lots of {sell.symbol} hold only {dec(held)}."
        )
    rows, left, fee_left = [], sell.quantity, sell.fee
    while left:
        index = _next_lot(lots, method)
        lot = lots[index]
        taken = min(left, lot.remaining_quantity)
        fee = proportional_share(fee_left, taken, left)
        row, rest = _lot_consume(lot, taken, sell, fee)
        if rest is None:
            del lots[index]
        else:
            lots[index] = rest
        left, fee_left = left - taken, fee_left - fee
        rows.append(row)
    return rows


def _lot_consume(lot: OpenLot, taken: Decimal, sell: LotFill, fee: Decimal) -> tuple[RealizedLot, OpenLot | None]:
    """The piece of `sell` taken from `lot`, and what remains of the lot (None once empty).
    `fee` is the piece's share of the sell fee: money, or coins valued at the sale price."""
    basis = proportional_share(lot.remaining_basis, taken, lot.remaining_quantity)
    proceeds = (taken - fee) * sell.price if sell.fee_in_base else taken * sell.price - fee
    row = RealizedLot(
        buy_fill_id=lot.buy_fill_id,
        sell_fill_id=sell.fill_id,
        symbol=lot.symbol,
        quantity=taken,
        cost_basis=basis,
        proceeds=proceeds,
        gain=proceeds - basis,
        acquired_at=lot.acquired_at,
        disposed_at=sell.ts,
    )
    if taken == lot.remaining_quantity:
        return row, None
    return row, replace(
        lot, remaining_quantity=lot.remaining_quantity - taken, remaining_basis=lot.remaining_basis - basis
    )


def _next_lot(lots: list[OpenLot], method: str) -> int:
    """Index of the lot the method sells next; `lots` is non-empty and oldest first."""
    if method == TaxLotMethod.FIFO:
        return 0
    if method == TaxLotMethod.LIFO:
        return len(lots) - 1
    best = 0
    for index in range(1, len(lots)):
        # Unit costs compared by cross-multiplying, which is exact; strictly greater keeps the
        # older of two equal costs.
        if lots[index].cost_basis * lots[best].quantity > lots[best].cost_basis * lots[index].quantity:
            best = index
    return best


# --- Reading the database --------------------------------------------------------------------


def tax_lots_for_account(
    *, account: TradingAccount, method: str | None = None, until: datetime | None = None
) -> TaxLotReport:
    """Lots of the account's fills (those before `until`, when given), matched by `method`, or by
    the account's tax_lot_method when None. Reads only. Raises TaxLotMethodUnknown (a ValueError),
    TaxLotOversold, or TaxLotFeeCurrency for a fee in neither the quote nor the base currency."""
    method = tax_lot_method_check(account.tax_lot_method if method is None else method)
    fills = Fill.objects.filter(account=account).order_by("created_at", "pk")
    if until is not None:
        fills = fills.filter(created_at__lt=until)
    fields = ("pk", "symbol", "side", "amount", "price", "fee", "fee_currency", "fee_quote", "created_at")
    return lots_match((lot_fill_from(fill) for fill in fills.only(*fields).iterator(chunk_size=2000)), method)


def lot_fill_from(fill: Fill) -> LotFill:
    """The LotFill of a stored fill, its fee in coins when charged in the base asset (the test of
    trading.positions.fee_in_base); TaxLotFeeCurrency when the fee is in any other currency than
    the quote or the base, or when a base-asset fee leaves nothing of a buy."""
    base, _, quote = fill.symbol.partition("/")
    in_base = fee_in_base(symbol=fill.symbol, fee_currency=fill.fee_currency)
    fee = fill.fee
    if fill.fee and not in_base and fill.fee_currency not in ("", quote):
        if fill.fee_quote is None:
            raise TaxLotFeeCurrency(
                f"Fill {fill.pk} of {fill.symbol} paid its fee in {fill.fee_currency!r}, not in {quote!r} or "
                f"{base!r}, and no {fill.fee_currency}/{quote} price was found at the fill: its cost basis "
                "cannot be computed."
            )
        fee = fill.fee_quote  # the third currency's fee, in quote money at the fill
    if in_base and fill.side == OrderSide.BUY and fill.fee >= fill.amount:
        raise TaxLotFeeCurrency(
            f"Fill {fill.pk} of {fill.symbol} paid a fee of {dec(fill.fee)} {base} on a buy of {dec(fill.amount)}: "
            "no coins are left to hold."
        )
    return LotFill(fill.pk, fill.symbol, fill.side, fill.amount, fill.price, fee, fill.created_at, fee_in_base=in_base)


# --- Output ----------------------------------------------------------------------------------


def realized_lots_csv(rows: Iterable[RealizedLot]) -> str:
    """REALIZED_LOT_COLUMNS as CSV (RFC 4180, CRLF), one row per realized piece, times in UTC,
    numbers as plain decimal strings without trailing zeros, never rounded."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REALIZED_LOT_COLUMNS)
    with localcontext(_EXACT):  # dec() normalizes in the current context: 120 digits never round
        writer.writerows(_csv_row(row) for row in rows)
    return out.getvalue()


def _csv_row(row: RealizedLot) -> tuple:
    return (
        row.symbol,
        row.buy_fill_id,
        row.sell_fill_id,
        dec(row.quantity),
        _utc(row.acquired_at),
        _utc(row.disposed_at),
        row.holding_days,
        row.term,
        dec(row.cost_basis),
        dec(row.proceeds),
        dec(row.gain),
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
