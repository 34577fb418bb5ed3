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
from trading.positions import PositionState, position_apply_fill
from trading.services.positions import positions_from_fills

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


# --- Fees in the base asset (Binance charges a buy's fee in the coins received) ---------------


def test_a_buy_with_a_base_asset_fee_holds_the_coins_received_at_the_whole_quote_paid():
    # 0.5 BTC @ 60,000 with a 0.0005 BTC fee: 0.4995 BTC received for 30,000.00 USDT paid.
    buy = LotFill(1, BTC, "buy", D("0.5"), D("60000"), D("0.0005"), at("2024-01-01"), fee_in_base=True)
    (lot,) = lots_match([buy], "FIFO").open_lots
    assert (lot.quantity, lot.cost_basis, lot.remaining_quantity, lot.remaining_basis) == (
        D("0.4995"),
        D("30000.00"),
        D("0.4995"),
        D("30000.00"),
    )


@pytest.mark.parametrize(
    ("sell_fee", "in_base", "sold", "proceeds", "gain"),
    [
        # Quote fee: sell all 0.4995 @ 62,000 = 30,969.00, less a 30.969 USDT fee = 30,938.031.
        ("30.969", False, "0.4995", "30938.031", "938.031"),
        # Base fee: sell 0.499 @ 62,000 = 30,938.00 with a 0.0005 BTC fee: the lot gives up 0.4995;
        # the fee coins bring nothing, so the gain is 30,938.00 - 30,000.00 = 938.00.
        ("0.0005", True, "0.499", "30938.00", "938.00"),
    ],
)
def test_selling_a_lot_bought_with_a_base_asset_fee_realizes_the_exact_gain(sell_fee, in_base, sold, proceeds, gain):
    fills = [
        LotFill(1, BTC, "buy", D("0.5"), D("60000"), D("0.0005"), at("2024-01-01"), fee_in_base=True),
        LotFill(2, BTC, "sell", D(sold), D("62000"), D(sell_fee), at("2024-02-01"), fee_in_base=in_base),
    ]
    for method in METHODS:
        report = lots_match(fills, method)
        (row,) = report.realized
        assert (row.quantity, row.cost_basis, row.proceeds, row.gain) == (D("0.4995"), D("30000"), D(proceeds), D(gain))
        assert report.open_lots == ()


def test_a_sell_with_a_base_asset_fee_splits_the_fee_coins_over_the_lots_it_takes():
    # Lot 1: 0.5 @ 60,000, fee 0.0005 BTC -> 0.4995 for 30,000 (60,060.06.. per coin).
    # Lot 2: 1 @ 50,000, fee 0.001 BTC -> 0.999 for 50,000 (50,050.05.. per coin).
    # Sell 3: 1 @ 70,000 with a 0.001 BTC fee disposes of 1.001 BTC; proceeds 70,000 in all.
    fills = [
        LotFill(1, BTC, "buy", D("0.5"), D("60000"), D("0.0005"), at("2024-01-01"), fee_in_base=True),
        LotFill(2, BTC, "buy", D("1"), D("50000"), D("0.001"), at("2024-01-02"), fee_in_base=True),
        LotFill(3, BTC, "sell", D("1"), D("70000"), D("0.001"), at("2024-01-03"), fee_in_base=True),
    ]
    # FIFO (and HIFO: lot 1 costs more per coin) take all 0.4995 of lot 1, whose fee share is
    # 0.001 x 0.4995 / 1.001 = 0.000499000999.. -> 0.0004990009 (down): proceeds (0.4995 -
    # 0.0004990009) x 70,000 = 34,930.069937. Then 0.5015 of lot 2, fee 0.001 - 0.0004990009 =
    # 0.0005009991, proceeds 0.5009990009 x 70,000 = 35,069.930063; basis 50,000 x 0.5015 / 0.999 =
    # 25,100.1001001001.. -> 25,100.1001001001, leaving 0.4975 of lot 2 at 24,899.8998998999.
    fifo = [
        (1, D("0.4995"), D("30000"), D("34930.069937"), D("4930.069937")),
        (2, D("0.5015"), D("25100.1001001001"), D("35069.930063"), D("9969.8299628999")),
    ]
    # LIFO takes lot 2 whole (fee 0.001 x 0.999 / 1.001 -> 0.0009980019, proceeds 0.9980019981 x
    # 70,000 = 69,860.139867), then 0.002 of lot 1 (basis 30,000 x 0.002 / 0.4995 -> 120.1201201201,
    # fee the rest 0.0000019981, proceeds 0.0019980019 x 70,000 = 139.860133).
    lifo = [
        (2, D("0.999"), D("50000"), D("69860.139867"), D("19860.139867")),
        (1, D("0.002"), D("120.1201201201"), D("139.860133"), D("19.7400128799")),
    ]
    opened = {"FIFO": (2, D("24899.8998998999")), "LIFO": (1, D("29879.8798798799"))}
    for method, rows in (("FIFO", fifo), ("HIFO", fifo), ("LIFO", lifo)):
        report = lots_match(fills, method)
        assert [(r.buy_fill_id, r.quantity, r.cost_basis, r.proceeds, r.gain) for r in report.realized] == rows
        (lot,) = report.open_lots
        assert lot.remaining_quantity == D("0.4975")
        assert (lot.buy_fill_id, lot.remaining_basis) == opened["LIFO" if method == "LIFO" else "FIFO"]
        # Cash: 70,000 received - 80,000 paid; the base fees moved no cash.
        assert report.realized_gain - report.open_basis == D("-10000")


def test_a_base_asset_fee_counts_in_the_oversell_check_and_cannot_swallow_a_buy():
    fills = [
        LotFill(1, BTC, "buy", D("1"), D("100"), D("0.001"), at("2024-01-01"), fee_in_base=True),
        LotFill(2, BTC, "sell", D("0.999"), D("100"), D("0.001"), at("2024-01-02"), fee_in_base=True),
    ]
    with pytest.raises(TaxLotOversold, match=r"^Fill 2 sells 0\.999 \(\+ 0\.001 fee\) BTC/USDT .* hold only 0\.999\.$"):
        lots_match(fills, "FIFO")
    with pytest.raises(ValueError, match=r"^fill 3: a fee of 1 in the base asset leaves nothing of a buy of 1$"):
        LotFill(3, BTC, "buy", D("1"), D("100"), D("1"), at("2024-01-01"), fee_in_base=True)


# --- Properties ------------------------------------------------------------------------------

AMOUNTS = st.decimals(min_value=D("0.0001"), max_value=D("50"), places=4)
PRICES = st.decimals(min_value=D("0.01"), max_value=D("90000"), places=2)
FEES = st.decimals(min_value=D("0"), max_value=D("25"), places=3)
# A fee in the base asset, as a fraction of the coins moved (Binance charges 0.1%; up to 1%).
BASE_FEE_RATES = st.one_of(st.none(), st.decimals(min_value=D("0"), max_value=D("0.01"), places=4))
# symbol, buy?, amount, price, quote fee, base fee rate (None: the fee is the quote fee), hours
# since the previous fill (0 gives equal times), sell all?
STEPS = st.lists(
    st.tuples(
        st.sampled_from((BTC, ETH)),
        st.booleans(),
        AMOUNTS,
        PRICES,
        FEES,
        BASE_FEE_RATES,
        st.integers(0, 24 * 300),
        st.booleans(),
    ),
    max_size=30,
)
START = at("2020-01-01")


def random_fills(steps, *, close_out: bool) -> list[LotFill]:
    """Fills from the drawn steps, each sell clipped to what is held (its base-asset fee coins
    included); with `close_out`, a final sell of everything still held in each symbol, the last
    symbol's with a fee in coins."""
    held: dict[str, Decimal] = defaultdict(Decimal)
    fills, ts = [], START
    for symbol, is_buy, amount, price, fee, base_rate, gap_hours, sell_all in steps:
        ts += timedelta(hours=gap_hours)
        if not is_buy:
            amount = held[symbol] if sell_all else min(amount, held[symbol])
        in_base = base_rate is not None
        if in_base:
            # Of the coins moved, a fraction goes as fee (rounded down to 8 places: exchange-like).
            fee = (amount * base_rate).quantize(D("1E-8"), rounding="ROUND_DOWN")
            if not is_buy:
                amount -= fee  # the sale gives up amount + fee == the coins drawn
        if not amount:
            continue
        fill = LotFill(len(fills) + 1, symbol, "buy" if is_buy else "sell", amount, price, fee, ts, in_base)
        held[symbol] += fill.quantity if is_buy else -fill.quantity
        fills.append(fill)
    if close_out:
        for n, symbol in enumerate(sorted(s for s, q in held.items() if q)):
            amount, fee, in_base = held[symbol], D("0.007"), False
            if n == 1:
                fee, in_base = held[symbol] / 1000, True
                amount -= fee
            fills.append(LotFill(len(fills) + 1, symbol, "sell", amount, D("1234.56"), fee, ts, in_base))
    return fills


def cash_result(fills) -> Decimal:
    """Total net proceeds - total cost: the cash the trades moved (a base-asset fee moves none)."""
    return sum(
        (f.amount * f.price - f.quote_fee if f.side == "sell" else -(f.amount * f.price + f.quote_fee) for f in fills),
        D("0"),
    )


def assert_pieces_add_up(fills, report):
    """Every sell's pieces add up to its net proceeds and to the coins it gives up; every lot's
    pieces and remainder to its basis and to the coins it received."""
    proceeds, basis, quantity = defaultdict(Decimal), defaultdict(Decimal), defaultdict(Decimal)
    for row in report.realized:
        assert row.quantity > 0 and row.cost_basis >= 0 and row.gain == row.proceeds - row.cost_basis
        proceeds[row.sell_fill_id] += row.proceeds
        basis[row.buy_fill_id] += row.cost_basis
        quantity[row.sell_fill_id] += row.quantity
        quantity[row.buy_fill_id] += row.quantity
    for lot in report.open_lots:
        assert lot.remaining_quantity > 0 and lot.remaining_basis >= 0
        basis[lot.buy_fill_id] += lot.remaining_basis
        quantity[lot.buy_fill_id] += lot.remaining_quantity
    assert proceeds == {f.fill_id: f.amount * f.price - f.quote_fee for f in fills if f.side == "sell"}
    assert basis == {f.fill_id: f.amount * f.price + f.quote_fee for f in fills if f.side == "buy"}
    assert quantity == {f.fill_id: f.quantity for f in fills}
    assert all(f.quantity == f.amount - f.base_fee for f in fills if f.side == "buy")
    assert all(f.quantity == f.amount + f.base_fee for f in fills if f.side == "sell")


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


@settings(max_examples=300, deadline=None)
@given(steps=STEPS)
def test_property_the_open_lots_hold_exactly_the_position_the_engine_books(steps):
    """trading.positions (the engine's and the rebuild's arithmetic) and the lots agree on the
    quantity held of every symbol, base-asset fees included, after every fill."""
    fills = random_fills(steps, close_out=False)
    states: dict[str, PositionState] = {}
    for n, fill in enumerate(fills, 1):
        states[fill.symbol] = position_apply_fill(
            states.get(fill.symbol, PositionState()),
            side=fill.side,
            amount=fill.amount,
            price=fill.price,
            fee=fill.fee,
            fee_in_base=fill.fee_in_base,
        )
        for method in METHODS:
            lots: dict[str, Decimal] = defaultdict(Decimal)
            for lot in lots_match(fills[:n], method).open_lots:
                lots[lot.symbol] += lot.remaining_quantity
            assert lots == {symbol: state.quantity for symbol, state in states.items() if state.quantity}


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
    with pytest.raises(
        TaxLotFeeCurrency, match=rf"^Fill {bnb.pk} of BTC/USDT paid its fee in 'BNB', not in 'USDT' or 'BTC'"
    ):
        tax_lots_for_account(account=account)
    bnb.delete()
    swallowed = db_fill(account, "buy", "1", "100", "1", "2024-01-01", fee_currency="BTC")
    with pytest.raises(
        TaxLotFeeCurrency, match=rf"^Fill {swallowed.pk} of BTC/USDT paid a fee of 1 BTC on a buy of 1: no coins"
    ):
        tax_lots_for_account(account=account)


@pytest.mark.django_db
def test_tax_lots_for_account_books_a_fee_in_the_base_asset_as_coins_and_agrees_with_the_rebuild():
    account = TradingAccountFactory()
    buy = db_fill(account, "buy", "0.5", "60000", "0.0005", "2024-01-01", fee_currency="BTC")
    sell = db_fill(account, "sell", "0.2", "62000", "0.0002", "2024-02-01", fee_currency="BTC")
    report = tax_lots_for_account(account=account)
    # The sale gives up 0.2002 of the 0.4995 received: basis 30,000 x 0.2002 / 0.4995 =
    # 12,024.0240240240.. -> 12,024.024024024; proceeds 0.2 x 62,000 = 12,400.
    (row,) = report.realized
    assert (row.buy_fill_id, row.sell_fill_id, row.quantity) == (buy.pk, sell.pk, D("0.2002"))
    assert (row.cost_basis, row.proceeds, row.gain) == (D("12024.024024024"), D("12400"), D("375.975975976"))
    (lot,) = report.open_lots
    assert (lot.remaining_quantity, lot.remaining_basis) == (D("0.2993"), D("17975.975975976"))
    states, cash = positions_from_fills(account_id=account.pk)
    assert states[BTC].quantity == lot.remaining_quantity
    assert cash == account.starting_balance - D("30000") + D("12400")


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
