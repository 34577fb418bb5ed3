"""SPEC C3: tax lots matched FIFO, LIFO and HIFO, by hand-worked examples, by property, from the
database and by command.

The worked book (one symbol, BTC/USDT, fees in USDT):

    id  when        side  amount  price  fee   lot basis = amount x price + fee, per unit
    1   2023-01-01  buy   1       100    1     101                                101
    2   2023-06-01  buy   2       150    2     302                                151
    3   2023-09-01  buy   1       120    0.5   120.5                              120.5
    4   2024-03-01  sell  1.5     200    3     net proceeds 300 - 3   = 297
    5   2024-08-01  sell  2       90     1.8   net proceeds 180 - 1.8 = 178.2

Days held: 2023-01-01 -> 2024-03-01 = 365 + 31 + 29 = 425; -> 2024-08-01 = 425 + 153 = 578.
2023-06-01 -> 2024-03-01 = 274; -> 2024-08-01 = 274 + 153 = 427.
2023-09-01 -> 2024-03-01 = 182; -> 2024-08-01 = 335. Long term means more than 365 days.
Whatever the method, sum(gains) - open basis = (297 + 178.2) - (101 + 302 + 120.5) = -48.3.
"""

import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.taxlots import (
    METHODS,
    REALIZED_LOT_COLUMNS,
    LotFill,
    TaxLotFeeCurrency,
    TaxLotMethodUnknown,
    TaxLotOversold,
    lots_match,
    proportional_share,
    tax_lots_for_account,
)
from tests.trading.factories import OrderFactory, TradingAccountFactory
from trading.models import Fill

D = Decimal
BTC, ETH = "BTC/USDT", "ETH/USDT"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def lf(fill_id: int, side: str, amount: str, price: str, fee: str, when: str, symbol: str = BTC) -> LotFill:
    return LotFill(fill_id, symbol, side, D(amount), D(price), D(fee), at(when))


BOOK = (
    ("buy", "1", "100", "1", "2023-01-01"),
    ("buy", "2", "150", "2", "2023-06-01"),
    ("buy", "1", "120", "0.5", "2023-09-01"),
    ("sell", "1.5", "200", "3", "2024-03-01"),
    ("sell", "2", "90", "1.8", "2024-08-01"),
)
# (buy id, sell id, quantity, cost basis, proceeds, gain, days held, term) per realized piece;
# the open lot (buy id, remaining quantity, remaining basis); the total realized gain.
EXPECTED = {
    # Sell 4 takes lot 1 whole and 0.5 of lot 2; its fee 3 splits 1/1.5 -> 2, the rest 1 to lot 2.
    # Lot 2: 302 x 0.5/2 = 75.5. Sell 5 takes the other 1.5 of lot 2 (226.5, the remainder) and
    # 0.5 of lot 3 (120.5 x 0.5 = 60.25); its fee 1.8 splits 1.8 x 1.5/2 = 1.35, the rest 0.45.
    # Proceeds 200 - 2, 100 - 1, 135 - 1.35, 45 - 0.45. Total 97 + 23.5 - 92.85 - 15.7 = 11.95.
    "FIFO": (
        [
            (1, 4, "1", "101", "198", "97", 425, "long"),
            (2, 4, "0.5", "75.5", "99", "23.5", 274, "short"),
            (2, 5, "1.5", "226.5", "133.65", "-92.85", 427, "long"),
            (3, 5, "0.5", "60.25", "44.55", "-15.70", 335, "short"),
        ],
        [(3, "0.5", "60.25")],
        "11.95",
    ),
    # Sell 4 takes lot 3 whole (120.5) then 0.5 of lot 2 (75.5); sell 5 takes the rest of lot 2
    # (1.5, 226.5) then 0.5 of lot 1 (101 x 0.5 = 50.5). Fees split as under FIFO.
    # Total 77.5 + 23.5 - 92.85 - 5.95 = 2.2.
    "LIFO": (
        [
            (3, 4, "1", "120.5", "198", "77.5", 182, "short"),
            (2, 4, "0.5", "75.5", "99", "23.5", 274, "short"),
            (2, 5, "1.5", "226.5", "133.65", "-92.85", 427, "long"),
            (1, 5, "0.5", "50.5", "44.55", "-5.95", 578, "long"),
        ],
        [(1, "0.5", "50.5")],
        "2.2",
    ),
    # Unit costs 151 (lot 2) > 120.5 (lot 3) > 101 (lot 1). Sell 4 takes 1.5 of lot 2
    # (302 x 1.5/2 = 226.5) and all of its fee: 300 - 3 = 297. Sell 5 takes lot 2's last 0.5
    # (75.5; fee 1.8 x 0.5/2 = 0.45), lot 3 whole (120.5; fee 1.35 x 1/1.5 = 0.9, proceeds 89.1),
    # 0.5 of lot 1 (50.5; fee the remaining 0.45). Total 70.5 - 30.95 - 31.4 - 5.95 = 2.2.
    "HIFO": (
        [
            (2, 4, "1.5", "226.5", "297", "70.5", 274, "short"),
            (2, 5, "0.5", "75.5", "44.55", "-30.95", 427, "long"),
            (3, 5, "1", "120.5", "89.1", "-31.4", 335, "short"),
            (1, 5, "0.5", "50.5", "44.55", "-5.95", 578, "long"),
        ],
        [(1, "0.5", "50.5")],
        "2.2",
    ),
}


def rows_of(report, ids=None) -> list[tuple]:
    """Realized pieces in the EXPECTED shape; `ids` maps database pks back to book ids."""
    ids = ids or {}
    return [
        (
            ids.get(r.buy_fill_id, r.buy_fill_id),
            ids.get(r.sell_fill_id, r.sell_fill_id),
            r.quantity,
            r.cost_basis,
            r.proceeds,
            r.gain,
            r.holding_days,
            r.term,
        )
        for r in report.realized
    ]


def expected_rows(method: str) -> list[tuple]:
    return [(b, s, D(q), D(c), D(p), D(g), days, term) for b, s, q, c, p, g, days, term in EXPECTED[method][0]]


def book_fills() -> list[LotFill]:
    return [lf(n, *row) for n, row in enumerate(BOOK, 1)]


# --- Worked examples -------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_worked_book_per_method(method):
    report = lots_match(book_fills(), method)

    assert report.method == method
    assert rows_of(report) == expected_rows(method)
    assert [(lot.buy_fill_id, lot.remaining_quantity, lot.remaining_basis) for lot in report.open_lots] == [
        (b, D(q), D(basis)) for b, q, basis in EXPECTED[method][1]
    ]
    assert report.realized_gain == D(EXPECTED[method][2])
    assert report.realized_gain - report.open_basis == D("-48.3")
    for row in report.realized:
        assert row.gain == row.proceeds - row.cost_basis


def test_order_of_the_input_does_not_matter_and_equal_times_go_by_fill_id():
    # Sell 2 has the same time as buy 1 and sells all of it: taken by id it is covered.
    fills = [lf(2, "sell", "1", "110", "0", "2024-01-01"), lf(1, "buy", "1", "100", "0", "2024-01-01")]
    report = lots_match(fills, "FIFO")
    assert rows_of(report) == [(1, 2, D("1"), D("100"), D("110"), D("10"), 0, "short")]
    assert lots_match(list(reversed(book_fills())), "HIFO") == lots_match(book_fills(), "HIFO")


def test_the_basis_split_of_a_lot_allocates_all_of_it():
    # Lot of 3 for 31 (30 + fee 1), sold one unit at a time: 31 x 1/3 = 10.33333333333... rounded
    # down to 10.3333333333; then 20.6666666667 x 1/2 = 10.33333333335 -> 10.3333333333; the
    # last sale takes the remainder 10.3333333334. 3 x 12 - 31 = 5 of gain in total.
    fills = [lf(1, "buy", "3", "10", "1", "2024-01-01")]
    fills += [lf(n, "sell", "1", "12", "0", f"2024-02-0{n}") for n in (2, 3, 4)]
    report = lots_match(fills, "FIFO")
    assert [r.cost_basis for r in report.realized] == [D("10.3333333333"), D("10.3333333333"), D("10.3333333334")]
    assert sum(r.cost_basis for r in report.realized) == D("31")
    assert report.realized_gain == D("5")
    assert report.open_lots == ()


def test_the_fee_split_of_a_sale_allocates_all_of_it():
    # Three lots of 1 @ 10, one sale of 3 @ 11 with a fee of 0.01: 0.01 x 1/3 -> 0.0033333333,
    # 0.0066666667 x 1/2 -> 0.0033333333, the last lot takes 0.0033333334. Proceeds 11 - share.
    fills = [lf(n, "buy", "1", "10", "0", f"2024-01-0{n}") for n in (1, 2, 3)]
    fills.append(lf(4, "sell", "3", "11", "0.01", "2024-02-01"))
    report = lots_match(fills, "FIFO")
    assert [r.proceeds for r in report.realized] == [D("10.9966666667"), D("10.9966666667"), D("10.9966666666")]
    assert sum(r.proceeds for r in report.realized) == D("32.99")
    assert report.realized_gain == D("2.99")


def test_hifo_ranks_by_cost_per_unit_with_the_buy_fee_and_ties_go_oldest_first():
    # Per unit: lot 1 = (100 + 5) / 1 = 105, lot 2 = 104, lot 3 = 210 / 2 = 105 (a tie with the
    # older lot 1). A sale of 2 @ 110 takes lot 1 (basis 105) then 1 of lot 3 (105): gains 5, 5.
    fills = [
        lf(1, "buy", "1", "100", "5", "2024-01-01"),
        lf(2, "buy", "1", "104", "0", "2024-01-02"),
        lf(3, "buy", "2", "105", "0", "2024-01-03"),
        lf(4, "sell", "2", "110", "0", "2024-02-01"),
    ]
    report = lots_match(fills, "HIFO")
    assert [(r.buy_fill_id, r.quantity, r.cost_basis, r.gain) for r in report.realized] == [
        (1, D("1"), D("105"), D("5")),
        (3, D("1"), D("105"), D("5")),
    ]
    assert [(lot.buy_fill_id, lot.remaining_quantity) for lot in report.open_lots] == [(2, D("1")), (3, D("1"))]


def test_each_symbol_has_its_own_lots():
    fills = [
        lf(1, "buy", "1", "100", "0", "2024-01-01", BTC),
        lf(2, "buy", "4", "10", "0.4", "2024-01-02", ETH),
        lf(3, "sell", "1", "12", "0.1", "2024-01-03", ETH),
    ]
    report = lots_match(fills, "LIFO")
    # ETH lot basis 40.4, a quarter of it 10.1; proceeds 12 - 0.1 = 11.9; gain 1.8.
    assert rows_of(report) == [(2, 3, D("1"), D("10.1"), D("11.9"), D("1.8"), 1, "short")]
    assert [(lot.symbol, lot.remaining_quantity, lot.remaining_basis) for lot in report.open_lots] == [
        (BTC, D("1"), D("100")),
        (ETH, D("3"), D("30.3")),
    ]


@pytest.mark.parametrize(
    ("held_for", "days", "term"),
    [
        (timedelta(days=365), 365, "short"),
        (timedelta(days=365, seconds=1), 365, "long"),
        (timedelta(days=366), 366, "long"),
        (timedelta(hours=23), 0, "short"),
    ],
)
def test_holding_period_is_long_after_more_than_365_days(held_for, days, term):
    bought = at("2023-03-01")
    fills = [LotFill(1, BTC, "buy", D("1"), D("1"), D("0"), bought)]
    fills.append(LotFill(2, BTC, "sell", D("1"), D("1"), D("0"), bought + held_for))
    (row,) = lots_match(fills, "FIFO").realized
    assert (row.holding_days, row.term) == (days, term)


@pytest.mark.parametrize("method", METHODS)
def test_a_sell_beyond_the_open_lots_is_refused_naming_symbol_and_quantities(method):
    fills = [lf(1, "buy", "1", "100", "0", "2024-01-01"), lf(2, "sell", "0.4", "100", "0", "2024-01-02")]
    fills.append(lf(3, "sell", "0.61", "100", "0", "2024-01-03"))
    with pytest.raises(
        TaxLotOversold, match=r"^Fill 3 sells 0\.61 BTC/USDT but the open lots of BTC/USDT hold only 0\.6\.$"
    ):
        lots_match(fills, method)
    with pytest.raises(TaxLotOversold, match=r"sells 1 ETH/USDT but the open lots of ETH/USDT hold only 0\.$"):
        lots_match([lf(1, "sell", "1", "100", "0", "2024-01-01", ETH)], method)


def test_an_unknown_method_is_a_value_error_naming_the_allowed_ones():
    with pytest.raises(ValueError, match=r"^Unknown tax lot method 'AVG': use one of FIFO, LIFO, HIFO\.$"):
        lots_match(book_fills(), "AVG")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", 1.5, r"amount must be a finite Decimal, not 1\.5"),
        ("price", D("0"), r"price must be > 0, not 0"),
        ("fee", D("-0.01"), r"fee must be >= 0, not -0\.01"),
        ("fee", D("NaN"), r"fee must be a finite Decimal"),
        ("side", "short", r"side must be buy or sell, not 'short'"),
    ],
)
def test_a_lot_fill_refuses_what_would_break_the_arithmetic(field, value, message):
    kwargs = {"fill_id": 7, "symbol": BTC, "side": "buy", "amount": D("1"), "price": D("1"), "fee": D("0")}
    kwargs[field] = value
    with pytest.raises(ValueError, match=rf"^fill 7: {message}"):
        LotFill(**kwargs, ts=at("2024-01-01"))


def test_proportional_share_rounds_down_and_the_whole_takes_everything():
    assert proportional_share(D("1"), D("1"), D("3")) == D("0.3333333333")
    assert proportional_share(D("2"), D("1"), D("3")) == D("0.6666666666")  # down, not 0.6666666667
    assert proportional_share(D("2.00000000005"), D("3"), D("3")) == D("2.00000000005")
    assert proportional_share(D("0"), D("1"), D("2")) == D("0")


# --- Properties ------------------------------------------------------------------------------

AMOUNTS = st.decimals(min_value=D("0.0001"), max_value=D("50"), places=4)
PRICES = st.decimals(min_value=D("0.01"), max_value=D("90000"), places=2)
FEES = st.decimals(min_value=D("0"), max_value=D("25"), places=3)
# symbol, buy?, amount, price, fee, hours since the previous fill (0 gives equal times), sell all?
STEPS = st.lists(
    st.tuples(
        st.sampled_from((BTC, ETH)), st.booleans(), AMOUNTS, PRICES, FEES, st.integers(0, 24 * 300), st.booleans()
    ),
    max_size=30,
)
START = at("2020-01-01")


def random_fills(steps, *, close_out: bool) -> list[LotFill]:
    """Fills from the drawn steps, each sell clipped to what is held; with `close_out`, a final
    sell of everything still held in each symbol."""
    held: dict[str, Decimal] = defaultdict(Decimal)
    fills, ts = [], START
    for symbol, is_buy, amount, price, fee, gap_hours, sell_all in steps:
        ts += timedelta(hours=gap_hours)
        if not is_buy:
            amount = held[symbol] if sell_all else min(amount, held[symbol])
            if not amount:
                continue
        held[symbol] += amount if is_buy else -amount
        fills.append(LotFill(len(fills) + 1, symbol, "buy" if is_buy else "sell", amount, price, fee, ts))
    if close_out:
        for symbol in sorted(s for s, q in held.items() if q):
            fills.append(LotFill(len(fills) + 1, symbol, "sell", held[symbol], D("1234.56"), D("0.007"), ts))
    return fills


def cash_result(fills) -> Decimal:
    """Total net proceeds - total cost, fees included."""
    return sum(
        (f.amount * f.price - f.fee if f.side == "sell" else -(f.amount * f.price + f.fee) for f in fills), D("0")
    )


def assert_pieces_add_up(fills, report):
    """Every sell's pieces add up to its net proceeds; every lot's pieces and remainder to its basis."""
    proceeds, basis = defaultdict(Decimal), defaultdict(Decimal)
    for row in report.realized:
        assert row.quantity > 0 and row.cost_basis >= 0 and row.gain == row.proceeds - row.cost_basis
        proceeds[row.sell_fill_id] += row.proceeds
        basis[row.buy_fill_id] += row.cost_basis
    for lot in report.open_lots:
        assert lot.remaining_quantity > 0 and lot.remaining_basis >= 0
        basis[lot.buy_fill_id] += lot.remaining_basis
    assert proceeds == {f.fill_id: f.amount * f.price - f.fee for f in fills if f.side == "sell"}
    assert basis == {f.fill_id: f.amount * f.price + f.fee for f in fills if f.side == "buy"}


@settings(max_examples=1000, deadline=None)
@given(steps=STEPS)
def test_property_gains_less_open_basis_equal_the_cash_result_for_every_method(steps):
    fills = random_fills(steps, close_out=False)
    for method in METHODS:
        report = lots_match(fills, method)
        assert report.realized_gain - report.open_basis == cash_result(fills)
        assert report.realized_gain == sum((r.gain for r in report.realized), D("0"))
        assert_pieces_add_up(fills, report)


@settings(max_examples=1000, deadline=None)
@given(steps=STEPS)
def test_property_once_everything_is_sold_every_method_realizes_the_same_gain(steps):
    fills = random_fills(steps, close_out=True)
    reports = [lots_match(fills, method) for method in METHODS]
    assert all(report.open_lots == () for report in reports)
    assert {report.realized_gain for report in reports} == {cash_result(fills)}


# --- From the database -----------------------------------------------------------------------


def db_fill(account, side, amount, price, fee, when, symbol=BTC, fee_currency="USDT") -> Fill:
    order = OrderFactory(account=account, symbol=symbol, side=side, amount=D(amount), status="filled")
    return Fill.objects.create(
        order=order,
        account=account,
        symbol=symbol,
        side=side,
        amount=D(amount),
        price=D(price),
        fee=D(fee),
        fee_currency=fee_currency,
        exchange_trade_id=f"t-{order.pk}",
        created_at=at(when),
    )


def db_book(account) -> dict[int, int]:
    """The worked book as fills of `account`; maps each fill's pk to its book id."""
    return {db_fill(account, *row).pk: n for n, row in enumerate(BOOK, 1)}


@pytest.mark.django_db
def test_tax_lots_for_account_uses_the_accounts_method_unless_told_otherwise():
    account = TradingAccountFactory(tax_lot_method="LIFO")
    ids = db_book(account)
    db_fill(TradingAccountFactory(), "buy", "5", "1", "0", "2023-02-01")  # another account's lot

    report = tax_lots_for_account(account=account)
    assert report.method == "LIFO"
    assert rows_of(report, ids) == expected_rows("LIFO")
    assert report.realized_gain == D("2.2")

    for method in ("FIFO", "HIFO"):
        assert rows_of(tax_lots_for_account(account=account, method=method), ids) == expected_rows(method)


@pytest.mark.django_db
def test_tax_lots_for_account_until_excludes_later_fills():
    account = TradingAccountFactory()
    ids = db_book(account)
    report = tax_lots_for_account(account=account, until=at("2024-08-01"))  # sell 5 is at that instant
    assert rows_of(report, ids) == expected_rows("FIFO")[:2]
    # Left: 1.5 of lot 2 (302 - 75.5 = 226.5) and lot 3 whole (120.5).
    assert [(ids[lot.buy_fill_id], lot.remaining_quantity, lot.remaining_basis) for lot in report.open_lots] == [
        (2, D("1.5"), D("226.5")),
        (3, D("1"), D("120.5")),
    ]


@pytest.mark.django_db
def test_fills_of_the_same_instant_are_taken_in_id_order():
    account = TradingAccountFactory()
    buy = db_fill(account, "buy", "1", "100", "0", "2024-01-01")
    sell = db_fill(account, "sell", "1", "90", "0", "2024-01-01")
    (row,) = tax_lots_for_account(account=account).realized
    assert (row.buy_fill_id, row.sell_fill_id, row.gain) == (buy.pk, sell.pk, D("-10"))


@pytest.mark.django_db
def test_tax_lots_for_account_refuses_an_oversell_naming_the_symbol():
    account = TradingAccountFactory()
    db_fill(account, "buy", "1.25", "2000", "0.5", "2024-01-01", ETH)
    sell = db_fill(account, "sell", "2", "2100", "0.5", "2024-01-02", ETH)
    expected = rf"^Fill {sell.pk} sells 2 ETH/USDT but the open lots of ETH/USDT hold only 1\.25\.$"
    with pytest.raises(TaxLotOversold, match=expected):
        tax_lots_for_account(account=account)


@pytest.mark.django_db
def test_tax_lots_for_account_refuses_an_unknown_method_and_a_fee_not_in_the_quote_currency():
    account = TradingAccountFactory()
    with pytest.raises(TaxLotMethodUnknown, match="use one of FIFO, LIFO, HIFO"):
        tax_lots_for_account(account=account, method="fifo")
    bnb = db_fill(account, "buy", "1", "100", "0.01", "2024-01-01", fee_currency="BNB")
    with pytest.raises(TaxLotFeeCurrency, match=rf"^Fill {bnb.pk} of BTC/USDT paid its fee in 'BNB', not in 'USDT'"):
        tax_lots_for_account(account=account)


# --- Command ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_command_prints_the_realized_lots_as_csv():
    account = TradingAccountFactory(name="desk one")
    pk = {n: fill_pk for fill_pk, n in db_book(account).items()}
    out = io.StringIO()
    call_command("tax_lots", "--account", "desk one", stdout=out)
    assert out.getvalue() == "\r\n".join(
        [
            ",".join(REALIZED_LOT_COLUMNS),
            f"BTC/USDT,{pk[1]},{pk[4]},1,2023-01-01T00:00:00.000000Z,2024-03-01T00:00:00.000000Z,425,long,101,198,97",
            f"BTC/USDT,{pk[2]},{pk[4]},0.5,2023-06-01T00:00:00.000000Z,2024-03-01T00:00:00.000000Z,274,short,75.5,99,23.5",
            f"BTC/USDT,{pk[2]},{pk[5]},1.5,2023-06-01T00:00:00.000000Z,2024-08-01T00:00:00.000000Z,427,long,226.5,133.65,-92.85",
            f"BTC/USDT,{pk[3]},{pk[5]},0.5,2023-09-01T00:00:00.000000Z,2024-08-01T00:00:00.000000Z,335,short,60.25,44.55,-15.7",
            "",
        ]
    )

    out = io.StringIO()
    call_command("tax_lots", "--account=desk one", "--method=HIFO", stdout=out)
    assert out.getvalue().splitlines()[1] == (
        f"BTC/USDT,{pk[2]},{pk[4]},1.5,2023-06-01T00:00:00.000000Z,2024-03-01T00:00:00.000000Z,274,short,226.5,297,70.5"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "nobody"], r"^--account: No account named 'nobody'\.$"),
        (["--account", "desk one", "--method", "AVG"], r"^--method: Unknown tax lot method 'AVG': use one of FIFO"),
    ],
)
def test_command_refuses_an_unknown_account_or_method(args, message):
    TradingAccountFactory(name="desk one")
    with pytest.raises(CommandError, match=message):
        call_command("tax_lots", *args, stdout=io.StringIO())


@pytest.mark.django_db
def test_command_reports_an_oversell_as_a_command_error():
    account = TradingAccountFactory(name="desk one")
    db_fill(account, "sell", "1", "100", "0", "2024-01-01")
    with pytest.raises(CommandError, match=r"sells 1 BTC/USDT but the open lots of BTC/USDT hold only 0\.$"):
        call_command("tax_lots", "--account", "desk one", stdout=io.StringIO())
