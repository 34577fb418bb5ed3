"""Monthly statements, trade reports and position history (SPEC C4). Reads only: nothing here
changes the database. The API views and the management commands parse their input and call
these functions, so both produce the same bytes.

Trade report (CSV, one row per fill, oldest first; fills with start <= time < end, in UTC).
The columns, in this order:

    timestamp_utc      time of the fill: ISO 8601 in UTC with microseconds and a Z,
                       e.g. 2025-03-03T10:00:00.000000Z
    venue              exchange of the account (TradingAccount.exchange_id), e.g. paper, binance
    account            account name
    symbol             market, BASE/QUOTE, e.g. BTC/USDT
    side               buy or sell
    quantity           filled amount, in the base currency
    price              fill price, in the quote currency
    notional           quantity x price, in the quote currency, fee excluded
    fee                fee charged for the fill, in fee_currency, exact
    fee_currency       currency of the fee: the quote currency, or the base asset when the
                       venue took the fee from the coins (Binance's commissionAsset on a buy)
    fee_quote          the fee valued in the quote currency: the fee itself when it is in the
                       quote currency; fee x price rounded UP to the cent when it is in the base
                       asset (rounded up as the paper exchange rounds fees: never understated);
                       for a third currency (BNB) its value at the fill (Fill.fee_quote), or
                       empty when no price was found (Fill.fee_unpriced: the figures are
                       incomplete, and the statement's `unpriced_fees` counts such fills)
    liquidity          maker or taker
    client_order_id    our order id, sent to the venue (Order.idempotency_key)
    exchange_order_id  the venue's order id (empty if the venue never acknowledged the order)
    exchange_trade_id  the venue's id of this fill

Position history (CSV, one row per fill, oldest first): symbol, timestamp_utc, side,
fill_quantity, fill_price, fee, fee_currency, then the position after the fill: quantity_after,
average_cost_after (per unit, buy fees included), realized_pnl_after (cumulative for the symbol),
and exchange_trade_id. The position is replayed from the first fill through
trading.positions.position_apply_fill, the engine's own arithmetic.

Numbers are plain decimal strings: '.' as the decimal point, no exponent, no thousands
separator, no trailing zeros, never rounded (money is Decimal end to end) except fee_quote of a
base-asset fee, as said. CSV is RFC 4180 (comma, double quotes, CRLF line ends), UTF-8.

Fees in the base asset. The position arithmetic (trading.positions) books a base-asset fee as
coins: it reduces the quantity held and never the cash, so a fill's cash_flow excludes it and the
reconciliation needs no valuation of it (the coins given up show in the position value). The
statement's `fees` (per symbol and in total) add fee_quote: what the fees cost in the quote
currency, base-asset fees valued at their fill's price, to the cent.

Monthly statement for a calendar month in UTC ([first day 00:00, next month's first day)):
opening equity is the last equity snapshot before the month, or the starting balance when the
account opened in or after that month (unknown otherwise); closing equity is the last snapshot
in the month (the opening carried forward when the engine took none). The reconciliation proves
closing - opening equity = cash flows of the month's fills + change in marked position value,
to the cent; a difference means a cash movement that is not a fill, or a snapshot out of step.
"""

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from compliance.exceptions import ComplianceError
from genesis_site.domain_errors import Unprocessable
from trading.models import EquitySnapshot, Fill, TradingAccount
from trading.positions import PositionState, cash_delta, fee_in_quote, fee_terms, position_apply_fill
from trading.serializers import account_ref, dec

TRADE_REPORT_COLUMNS = (
    "timestamp_utc",
    "venue",
    "account",
    "symbol",
    "side",
    "quantity",
    "price",
    "notional",
    "fee",
    "fee_currency",
    "fee_quote",
    "liquidity",
    "client_order_id",
    "exchange_order_id",
    "exchange_trade_id",
)
POSITION_HISTORY_COLUMNS = (
    "symbol",
    "timestamp_utc",
    "side",
    "fill_quantity",
    "fill_price",
    "fee",
    "fee_currency",
    "quantity_after",
    "average_cost_after",
    "realized_pnl_after",
    "exchange_trade_id",
)
STATEMENT_FILL_COLUMNS = (*TRADE_REPORT_COLUMNS, "realized_pnl", "cash_flow")
SYMBOL_COLUMNS = (
    "symbol",
    "trades",
    "bought",
    "sold",
    "buy_notional",
    "sell_notional",
    "fees",
    "realized_pnl",
    "cash_flow",
    "quantity_end",
)

MAX_RANGE = timedelta(days=366)
HALF_CENT = Decimal("0.005")
CENT = Decimal("0.01")
PCT = Decimal("0.0001")
HUNDRED = Decimal("100")
ZERO = Decimal("0")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_REPLAY_CHUNK = 2000


class ReportInputInvalid(ComplianceError):
    """A month, time range, account or output a report cannot be made for; `field` names it."""

    code = "invalid"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class ReportRangeRefused(Unprocessable, ReportInputInvalid):
    """A well-formed month or range no report can be made for (not begun, backwards, too long)."""


class FillHistoryInconsistent(ComplianceError):
    """The stored fills cannot be replayed (a sell larger than the position)."""

    code = "fill_history_inconsistent"


# --- Input -------------------------------------------------------------------------------


def month_bounds(month: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month `YYYY-MM` in UTC. A month that has not begun is refused."""
    match = _MONTH.fullmatch(month)
    if not match or int(match[1]) < 1 or not 1 <= int(match[2]) <= 12:
        raise ReportInputInvalid("month", "Not a month: use YYYY-MM, e.g. 2025-03.")
    year, number = int(match[1]), int(match[2])
    start = datetime(year, number, 1, tzinfo=UTC)
    if start > (now or timezone.now()):
        raise ReportRangeRefused("month", f"{month} has not begun yet.")
    return start, datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)


def moment_parse(text: str, *, field: str) -> datetime:
    """An ISO 8601 date or date-time, in UTC; one without an offset is read as UTC."""
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ReportInputInvalid(
            field, "Not an ISO 8601 date-time: use e.g. 2025-03-01T00:00:00Z or 2025-03-01."
        ) from None


def report_range_check(start: datetime, end: datetime) -> None:
    """A report range runs forward and spans at most 366 days (a year, leap day included)."""
    if end <= start:
        raise ReportRangeRefused("end", "Must be after start.")
    if end - start > MAX_RANGE:
        raise ReportRangeRefused("end", "The range is longer than 366 days; split it.")


def account_named(name: str) -> TradingAccount:
    """The account called `name` (for operators' commands, which see every account)."""
    account = TradingAccount.objects.filter(name=name).first()
    if account is None:
        raise ReportInputInvalid("account", f"No account named {name!r}.")
    return account


# --- Fills and their replay ------------------------------------------------------------------


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def fills_of(*, account_id: int, **filters) -> QuerySet[Fill]:
    """An account's fills in booking order (time, then id for fills of the same instant)."""
    return Fill.objects.filter(account_id=account_id, **filters).select_related("order").order_by("created_at", "pk")


@dataclass(frozen=True)
class PositionStep:
    """A fill and what it did: the symbol's position after it, its realized P&L, its cash flow."""

    fill: Fill
    after: PositionState
    realized: Decimal
    cash_flow: Decimal


def fills_replay(fills: Iterable[Fill]) -> Iterator[PositionStep]:
    """Replay fills (in booking order, from the account's first) through the engine's position
    arithmetic, one position per symbol."""
    states: dict[str, PositionState] = {}
    for fill in fills:
        before = states.get(fill.symbol, PositionState())
        trade = {
            "side": fill.side,
            "amount": fill.amount,
            "price": fill.price,
            **fee_terms(symbol=fill.symbol, fee=fill.fee, fee_currency=fill.fee_currency, fee_quote=fill.fee_quote),
        }
        try:
            after = position_apply_fill(before, **trade)
        except ValueError as exc:
            message = f"fill {fill.pk} ({fill.exchange_trade_id}) cannot be replayed: {exc}"
            raise FillHistoryInconsistent(message) from None
        states[fill.symbol] = after
        yield PositionStep(fill, after, after.realized_pnl - before.realized_pnl, cash_delta(**trade))


def fee_quote(fill: Fill) -> Decimal | None:
    """The fill's fee in the quote currency (trading.positions.fee_in_quote); None for a fee in
    a third currency that had no price at the fill (Fill.fee_unpriced)."""
    return fee_in_quote(
        symbol=fill.symbol, fee=fill.fee, fee_currency=fill.fee_currency, price=fill.price, fee_quote=fill.fee_quote
    )


def _trade_row(fill: Fill, account: TradingAccount) -> dict[str, str]:
    return {
        "timestamp_utc": utc_iso(fill.created_at),
        "venue": account.exchange_id,
        "account": account.name,
        "symbol": fill.symbol,
        "side": fill.side,
        "quantity": dec(fill.amount),
        "price": dec(fill.price),
        "notional": dec(fill.notional),
        "fee": dec(fill.fee),
        "fee_currency": fill.fee_currency,
        "fee_quote": dec(fee_quote(fill)),
        "liquidity": fill.liquidity,
        "client_order_id": fill.order.idempotency_key,
        "exchange_order_id": fill.order.exchange_order_id,
        "exchange_trade_id": fill.exchange_trade_id,
    }


def csv_text(columns: Sequence[str], rows: Iterable[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# --- Trade report and position history -------------------------------------------------------


def trade_report_rows(*, account: TradingAccount, start: datetime, end: datetime) -> list[dict[str, str]]:
    """The account's fills with start <= time < end as TRADE_REPORT_COLUMNS rows, oldest first."""
    report_range_check(start, end)
    fills = fills_of(account_id=account.pk, created_at__gte=start, created_at__lt=end)
    return [_trade_row(fill, account) for fill in fills.iterator(chunk_size=_REPLAY_CHUNK)]


def trade_report_csv(rows: Iterable[dict[str, str]]) -> str:
    return csv_text(TRADE_REPORT_COLUMNS, rows)


def position_history(*, account: TradingAccount, symbol: str | None = None) -> list[PositionStep]:
    """Every fill of the account (of `symbol` only, if given) with the position after it."""
    fills = fills_of(account_id=account.pk, **({"symbol": symbol} if symbol else {}))
    return list(fills_replay(fills.iterator(chunk_size=_REPLAY_CHUNK)))


def position_history_rows(steps: Iterable[PositionStep]) -> Iterator[dict[str, str]]:
    for step in steps:
        yield {
            "symbol": step.fill.symbol,
            "timestamp_utc": utc_iso(step.fill.created_at),
            "side": step.fill.side,
            "fill_quantity": dec(step.fill.amount),
            "fill_price": dec(step.fill.price),
            "fee": dec(step.fill.fee),
            "fee_currency": step.fill.fee_currency,
            "quantity_after": dec(step.after.quantity),
            "average_cost_after": dec(step.after.average_cost),
            "realized_pnl_after": dec(step.after.realized_pnl),
            "exchange_trade_id": step.fill.exchange_trade_id,
        }


def position_history_csv(steps: Iterable[PositionStep]) -> str:
    return csv_text(POSITION_HISTORY_COLUMNS, position_history_rows(steps))


# --- Monthly statement ------------------------------------------------------------------------


@dataclass(frozen=True)
class BalancePoint:
    """Equity at one moment: from a snapshot, the starting balance, or carried forward."""

    ts: datetime | None
    equity: Decimal
    cash: Decimal
    positions_value: Decimal
    source: str


@dataclass
class SymbolSummary:
    symbol: str
    trades: int = 0
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    buy_notional: Decimal = ZERO
    sell_notional: Decimal = ZERO
    fees: Decimal = ZERO
    unpriced_fees: int = 0  # fills whose third-currency fee had no price: left out of fees and P&L
    realized_pnl: Decimal = ZERO
    cash_flow: Decimal = ZERO
    quantity_end: Decimal = ZERO

    def add(self, step: PositionStep) -> None:
        fill = step.fill
        self.trades += 1
        if fill.side == "buy":
            self.bought += fill.amount
            self.buy_notional += fill.notional
        else:
            self.sold += fill.amount
            self.sell_notional += fill.notional
        value = fee_quote(fill)
        if value is None:
            self.unpriced_fees += 1
        else:
            self.fees += value
        self.realized_pnl += step.realized
        self.cash_flow += step.cash_flow


@dataclass(frozen=True)
class Reconciliation:
    """closing - opening equity against the month's fill cash flows + change in position value."""

    equity_change: Decimal
    cash_flows: Decimal
    position_value_change: Decimal

    @property
    def expected_change(self) -> Decimal:
        return self.cash_flows + self.position_value_change

    @property
    def difference(self) -> Decimal:
        return self.equity_change - self.expected_change

    @property
    def reconciled(self) -> bool:
        return abs(self.difference) < HALF_CENT


@dataclass(frozen=True)
class MonthlyStatement:
    account: TradingAccount
    month: str
    start: datetime
    end: datetime
    generated_at: datetime
    opening: BalancePoint | None
    closing: BalancePoint | None
    symbols: list[SymbolSummary]
    fills: list[PositionStep]

    @property
    def net_pnl(self) -> Decimal | None:
        if self.opening is None or self.closing is None:
            return None
        return self.closing.equity - self.opening.equity

    @property
    def net_pnl_pct(self) -> Decimal | None:
        if self.net_pnl is None or not self.opening.equity:
            return None
        return (self.net_pnl / self.opening.equity * HUNDRED).quantize(PCT)

    @property
    def realized_pnl(self) -> Decimal:
        return sum((s.realized_pnl for s in self.symbols), ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((s.fees for s in self.symbols), ZERO)

    @property
    def unpriced_fees(self) -> int:
        """Fills whose fee (in a third currency) had no price: fees and P&L are incomplete."""
        return sum(s.unpriced_fees for s in self.symbols)

    @property
    def cash_flows(self) -> Decimal:
        return sum((s.cash_flow for s in self.symbols), ZERO)

    @property
    def reconciliation(self) -> Reconciliation | None:
        if self.net_pnl is None:
            return None
        return Reconciliation(
            equity_change=self.net_pnl,
            cash_flows=self.cash_flows,
            position_value_change=self.closing.positions_value - self.opening.positions_value,
        )


def _point(snapshot: EquitySnapshot | None) -> BalancePoint | None:
    if snapshot is None:
        return None
    return BalancePoint(snapshot.ts, snapshot.equity, snapshot.cash, snapshot.positions_value, "snapshot")


def _last_snapshot(account: TradingAccount, **ts_range) -> EquitySnapshot | None:
    return EquitySnapshot.objects.filter(account=account, **ts_range).order_by("-ts", "-pk").first()


def _opening(account: TradingAccount, start: datetime) -> BalancePoint | None:
    opening = _point(_last_snapshot(account, ts__lt=start))
    if opening is None and account.created_at >= start:
        balance = account.starting_balance
        opening = BalancePoint(account.created_at, balance, balance, ZERO, "starting_balance")
    return opening


def _month_replay(
    account: TradingAccount, start: datetime, end: datetime
) -> tuple[list[SymbolSummary], list[PositionStep]]:
    """Replay every fill before `end`; summarize per symbol the ones in [start, end)."""
    summaries: dict[str, SymbolSummary] = {}
    in_month: list[PositionStep] = []
    fills = fills_of(account_id=account.pk, created_at__lt=end).iterator(chunk_size=_REPLAY_CHUNK)
    for step in fills_replay(fills):
        summary = summaries.setdefault(step.fill.symbol, SymbolSummary(step.fill.symbol))
        summary.quantity_end = step.after.quantity
        if step.fill.created_at >= start:
            summary.add(step)
            in_month.append(step)
    active = [s for s in summaries.values() if s.trades or s.quantity_end]
    return sorted(active, key=lambda s: s.symbol), in_month


def monthly_statement(*, account: TradingAccount, month: str, now: datetime | None = None) -> MonthlyStatement:
    """The P&L statement of `account` for `month` (YYYY-MM, UTC); see the module docstring.
    ReportInputInvalid for a bad or future month, FillHistoryInconsistent for unreplayable fills."""
    now = now or timezone.now()
    start, end = month_bounds(month, now=now)
    symbols, fills = _month_replay(account, start, end)
    opening = _opening(account, start)
    closing = _point(_last_snapshot(account, ts__gte=start, ts__lt=end))
    if closing is None and opening is not None:
        closing = replace(opening, source="carried_forward")
    return MonthlyStatement(account, month, start, end, now, opening, closing, symbols, fills)


# --- Statement output -------------------------------------------------------------------------


def _point_data(point: BalancePoint | None) -> dict | None:
    if point is None:
        return None
    return {
        "ts": utc_iso(point.ts) if point.ts else None,
        "equity": dec(point.equity),
        "cash": dec(point.cash),
        "positions_value": dec(point.positions_value),
        "source": point.source,
    }


def _reconciliation_data(rec: Reconciliation | None) -> dict | None:
    if rec is None:
        return None
    return {
        "equity_change": dec(rec.equity_change),
        "cash_flows": dec(rec.cash_flows),
        "position_value_change": dec(rec.position_value_change),
        "expected_change": dec(rec.expected_change),
        "difference": dec(rec.difference),
        "reconciled": rec.reconciled,
    }


def _symbol_data(s: SymbolSummary) -> dict:
    return {c: getattr(s, c) if c in ("symbol", "trades") else dec(getattr(s, c)) for c in SYMBOL_COLUMNS}


def _statement_fill_data(step: PositionStep, account: TradingAccount) -> dict[str, str]:
    return {**_trade_row(step.fill, account), "realized_pnl": dec(step.realized), "cash_flow": dec(step.cash_flow)}


def statement_data(statement: MonthlyStatement) -> dict:
    """The statement as plain data (decimal strings, UTC ISO times): the JSON body, and the
    numbers the CSV and HTML show."""
    s, account = statement, statement.account
    return {
        "account": account_ref(account),
        "month": s.month,
        "period": {"start": utc_iso(s.start), "end": utc_iso(s.end)},
        "generated_at": utc_iso(s.generated_at),
        "opening": _point_data(s.opening),
        "closing": _point_data(s.closing),
        "net_pnl": dec(s.net_pnl),
        "net_pnl_pct": dec(s.net_pnl_pct),
        "realized_pnl": dec(s.realized_pnl),
        "fees": dec(s.fees),
        "unpriced_fees": s.unpriced_fees,
        "trades": len(s.fills),
        "symbols": [_symbol_data(summary) for summary in s.symbols],
        "reconciliation": _reconciliation_data(s.reconciliation),
        "fills": [_statement_fill_data(step, account) for step in s.fills],
    }


def statement_json(statement: MonthlyStatement) -> str:
    return json.dumps(statement_data(statement), indent=2) + "\n"


def _summary_items(data: dict) -> Iterator[tuple[str, str]]:
    yield from (("account", data["account"]["name"]), ("venue", data["account"]["exchange"]))
    yield from (("quote_currency", data["account"]["quote_currency"]), ("month", data["month"]))
    yield from (("period_start_utc", data["period"]["start"]), ("period_end_utc", data["period"]["end"]))
    for side in ("opening", "closing"):
        point = data[side] or {}
        for key in ("equity", "cash", "positions_value", "source", "ts"):
            yield f"{side}_{key}", point.get(key) or ""
    for key in ("net_pnl", "net_pnl_pct", "realized_pnl", "fees", "unpriced_fees", "trades"):
        yield key, data[key] if data[key] is not None else ""
    for key, value in (data["reconciliation"] or {}).items():
        yield f"reconciliation_{key}", str(value).lower() if isinstance(value, bool) else value


def statement_csv(statement: MonthlyStatement) -> str:
    """Three blocks, each a title row, a header row and rows, separated by an empty row:
    Summary (item,value; reconciliation included), Symbols (SYMBOL_COLUMNS) and Fills
    (STATEMENT_FILL_COLUMNS: the trade report columns + realized_pnl, cash_flow)."""
    data = statement_data(statement)
    out = io.StringIO()
    writer = csv.writer(out)
    blocks = (
        ("Summary", ("item", "value"), list(_summary_items(data))),
        ("Symbols", SYMBOL_COLUMNS, [[row[c] for c in SYMBOL_COLUMNS] for row in data["symbols"]]),
        ("Fills", STATEMENT_FILL_COLUMNS, [[row[c] for c in STATEMENT_FILL_COLUMNS] for row in data["fills"]]),
    )
    for i, (title, header, rows) in enumerate(blocks):
        writer.writerows([*([[]] if i else []), [title], header, *rows])
    return out.getvalue()


def statement_html(statement: MonthlyStatement) -> str:
    """A standalone, printable HTML page (no external assets), times in UTC."""
    return render_to_string("compliance/statement.html", {"s": statement, "data": statement_data(statement)})


def report_file_write(path: Path, text: str) -> None:
    """Write a finished report to `path` (the report is built first, so a refused input leaves
    no file behind)."""
    try:
        path.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise ReportInputInvalid("output", f"Cannot write {path}: {exc.strerror or exc}.") from None


def command_message(exc: ComplianceError) -> str:
    """A refused report as a management command says it, naming the option at fault."""
    return f"--{exc.field}: {exc}" if isinstance(exc, ReportInputInvalid) else str(exc)
