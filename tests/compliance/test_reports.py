"""SPEC C4: monthly statements, trade reports and position history, by API and by command.

The month under test is March 2025 on an account opened on 1 Feb 2025 with 20,000 USDT. Every
expected number below is worked out by hand from the fills and snapshots of `book`.
"""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from compliance.reports import (
    POSITION_HISTORY_COLUMNS,
    STATEMENT_FILL_COLUMNS,
    SYMBOL_COLUMNS,
    TRADE_REPORT_COLUMNS,
    monthly_statement,
    statement_data,
    statement_html,
    trade_report_rows,
)
from compliance.taxlots import tax_lots_for_account
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import OrderFactory, StrategyFactory, TradingAccountFactory
from trading.models import EquitySnapshot, Fill, Position
from trading.services.engine import engine_tick
from trading.services.positions import positions_from_fills

pytestmark = pytest.mark.django_db
D = Decimal
STATEMENTS = "/api/v1/statements"
TRADES = "/api/v1/reports/trades"
POSITIONS = "/api/v1/reports/positions"
TRADE_HEADER = (
    "timestamp_utc,venue,account,symbol,side,quantity,price,notional,fee,fee_currency,fee_quote,liquidity,"
    "client_order_id,exchange_order_id,exchange_trade_id"
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fill(
    account, n: int, when: str, symbol: str, side: str, amount: str, price: str, fee: str, fee_currency: str = "USDT"
) -> Fill:
    order = OrderFactory(
        account=account,
        symbol=symbol,
        side=side,
        amount=D(amount),
        idempotency_key=f"gen-{n}",
        exchange_order_id=f"ex-{n}",
        status="filled",
        created_at=at(when),
    )
    return Fill.objects.create(
        order=order,
        account=account,
        symbol=symbol,
        side=side,
        amount=D(amount),
        price=D(price),
        fee=D(fee),
        fee_currency=fee_currency,
        exchange_trade_id=f"t-{n}",
        created_at=at(when),
    )


def snapshot(account, when: str, cash: str, positions_value: str) -> EquitySnapshot:
    return EquitySnapshot.objects.create(
        account=account,
        ts=at(when),
        equity=D(cash) + D(positions_value),
        cash=D(cash),
        positions_value=D(positions_value),
        realized_pnl=D("0"),
        unrealized_pnl=D("0"),
    )


@pytest.fixture
def book():
    """Account opened 2025-02-01 with 20,000 USDT.

    February: buy 0.1 BTC @ 40,000 fee 4 -> cash 15,996; BTC 0.1 at average cost 40,040.
      Snapshot 02-28 23:00, BTC marked 41,000: positions 4,100, equity 20,096 (the opening).
    March (the month; the first fill is exactly at its start):
      #2 03-01 00:00 buy 0.1 BTC @ 42,000 fee 4.2: cash -4,204.2; BTC 0.2 @ (4,004 + 4,200 + 4.2) / 0.2 = 41,041
      #3 03-10 12:30 buy 2 ETH @ 3,000 fee 6: cash -6,006; ETH 2 @ 3,003
      #4 03-20 09:15 sell 0.15 BTC @ 45,000 fee 6.75: cash +6,743.25; realized (45,000 - 41,041) x 0.15 - 6.75
         = 587.10; BTC 0.05 @ 41,041
      #5 03-25 16:00 sell 1 ETH @ 2,900 fee 2.9: cash +2,897.1; realized (2,900 - 3,003) x 1 - 2.9 = -105.90
      Cash flows -4,204.2 - 6,006 + 6,743.25 + 2,897.1 = -569.85 -> cash 15,426.15.
      Snapshot 03-31 23:00, BTC 46,000 and ETH 3,100: positions 0.05 x 46,000 + 3,100 = 5,400, equity 20,826.15.
    April: #6 exactly at 04-01 00:00, sell 0.05 BTC @ 47,000 fee 2.35 (not in March).
    """
    user = UserFactory(role="compliance_officer")
    account = TradingAccountFactory(
        name="desk one",
        members=[user],
        starting_balance=D("20000"),
        cash_balance=D("20000"),
        created_at=at("2025-02-01"),
    )
    snapshot(account, "2025-02-15T12:00:00", "20000", "0")
    fill(account, 1, "2025-02-20T10:00:00", "BTC/USDT", "buy", "0.1", "40000", "4")
    snapshot(account, "2025-02-28T23:00:00", "15996", "4100")
    fill(account, 2, "2025-03-01T00:00:00", "BTC/USDT", "buy", "0.1", "42000", "4.2")
    fill(account, 3, "2025-03-10T12:30:00", "ETH/USDT", "buy", "2", "3000", "6")
    snapshot(account, "2025-03-15T00:00:00", "5785.8", "14700")  # mid-month: neither opening nor closing
    fill(account, 4, "2025-03-20T09:15:00", "BTC/USDT", "sell", "0.15", "45000", "6.75")
    fill(account, 5, "2025-03-25T16:00:00", "ETH/USDT", "sell", "1", "2900", "2.9")
    snapshot(account, "2025-03-31T23:00:00", "15426.15", "5400")
    fill(account, 6, "2025-04-01T00:00:00", "BTC/USDT", "sell", "0.05", "47000", "2.35")
    snapshot(account, "2025-04-01T00:00:00", "17773.8", "3100")
    return user, account


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def csv_blocks(text: str) -> dict[str, list[list[str]]]:
    blocks, title = {}, None
    for row in csv_rows(text):
        if not row:
            title = None
        elif title is None:
            title = row[0]
            blocks[title] = []
        else:
            blocks[title].append(row)
    return blocks


# --- The statement reconciles with the fills and the snapshots ---------------------------------------


def test_the_march_statement_reconciles_to_the_cent_with_fills_and_snapshots(book):
    _, account = book
    data = statement_data(monthly_statement(account=account, month="2025-03"))
    assert data["period"] == {"start": "2025-03-01T00:00:00.000000Z", "end": "2025-04-01T00:00:00.000000Z"}
    assert data["opening"] == {
        "ts": "2025-02-28T23:00:00.000000Z",
        "equity": "20096",
        "cash": "15996",
        "positions_value": "4100",
        "source": "snapshot",
    }
    assert data["closing"] == {
        "ts": "2025-03-31T23:00:00.000000Z",
        "equity": "20826.15",
        "cash": "15426.15",
        "positions_value": "5400",
        "source": "snapshot",
    }
    # 20,826.15 - 20,096 = 730.15, i.e. 730.15 / 20,096 = 3.6333 %
    assert (data["net_pnl"], data["net_pnl_pct"]) == ("730.15", "3.6333")
    # 587.10 - 105.90; fees 4.2 + 6 + 6.75 + 2.9; fills #2 to #5
    assert (data["realized_pnl"], data["fees"], data["trades"]) == ("481.2", "19.85", 4)
    # 730.15 = -569.85 (fills' cash) + (5,400 - 4,100) (marked positions)
    assert data["reconciliation"] == {
        "equity_change": "730.15",
        "cash_flows": "-569.85",
        "position_value_change": "1300",
        "expected_change": "730.15",
        "difference": "0",
        "reconciled": True,
    }
    assert data["symbols"] == [
        {
            "symbol": "BTC/USDT",
            "trades": 2,
            "bought": "0.1",
            "sold": "0.15",
            "buy_notional": "4200",
            "sell_notional": "6750",
            "fees": "10.95",
            "realized_pnl": "587.1",
            "cash_flow": "2539.05",  # -4,204.2 + 6,743.25
            "quantity_end": "0.05",
        },
        {
            "symbol": "ETH/USDT",
            "trades": 2,
            "bought": "2",
            "sold": "1",
            "buy_notional": "6000",
            "sell_notional": "2900",
            "fees": "8.9",
            "realized_pnl": "-105.9",
            "cash_flow": "-3108.9",  # -6,006 + 2,897.1
            "quantity_end": "1",
        },
    ]
    assert [f["exchange_trade_id"] for f in data["fills"]] == ["t-2", "t-3", "t-4", "t-5"]
    assert [(f["realized_pnl"], f["cash_flow"]) for f in data["fills"]] == [
        ("0", "-4204.2"),
        ("0", "-6006"),
        ("587.1", "6743.25"),
        ("-105.9", "2897.1"),
    ]


def test_a_month_traded_by_the_engine_reconciles_and_agrees_with_its_positions():
    account = TradingAccountFactory()
    StrategyFactory(account=account)
    active_policy(account)
    for _ in range(120):
        engine_tick(account_id=account.pk)
    first = EquitySnapshot.objects.filter(account=account).earliest("ts")
    statement = monthly_statement(account=account, month=f"{first.ts:%Y-%m}")
    assert statement.opening.source == "starting_balance" and statement.closing.source == "snapshot"
    assert len(statement.fills) >= 2 and statement.reconciliation.reconciled
    assert statement.reconciliation.difference == 0  # exact, not only to the cent
    position = Position.objects.get(account=account, symbol="BTC/USDT")
    (btc,) = statement.symbols
    assert (btc.quantity_end, btc.realized_pnl) == (position.quantity, position.realized_pnl)


def test_fees_in_the_base_asset_are_valued_at_the_fill_price_and_the_statement_reconciles():
    """An account opened 2025-03-01 with 100,000 USDT, trading BTC on a venue that takes some fees
    in BTC:

      #1 03-02 buy 0.5 @ 60,000 fee 0.0005 BTC: cash -30,000; holds 0.4995; fee worth 30.00
      #2 03-10 buy 0.3 @ 61,234.57 fee 0.0003 BTC: cash -18,370.371; holds 0.7992; fee worth
         0.0003 x 61,234.57 = 18.370371 -> 18.38 (rounded up to the cent)
      #3 03-20 sell 0.2 @ 62,000 fee 12.4 USDT: cash +12,387.6; holds 0.5992
      #4 03-25 sell 0.1 @ 63,000 fee 0.0001 BTC: cash +6,300; gives up 0.1001, holds 0.4991; fee 6.30
      Cash flows -30,000 - 18,370.371 + 12,387.6 + 6,300 = -29,682.771 -> cash 70,317.229.
      Snapshot 03-31 23:00, BTC marked 64,000: positions 0.4991 x 64,000 = 31,942.40, equity
      102,259.629. Fees 30 + 18.38 + 12.4 + 6.30 = 67.08.
    """
    account = TradingAccountFactory(starting_balance=D("100000"), created_at=at("2025-03-01"))
    fill(account, 1, "2025-03-02T10:00:00", "BTC/USDT", "buy", "0.5", "60000", "0.0005", "BTC")
    fill(account, 2, "2025-03-10T10:00:00", "BTC/USDT", "buy", "0.3", "61234.57", "0.0003", "BTC")
    fill(account, 3, "2025-03-20T10:00:00", "BTC/USDT", "sell", "0.2", "62000", "12.4")
    fill(account, 4, "2025-03-25T10:00:00", "BTC/USDT", "sell", "0.1", "63000", "0.0001", "BTC")
    snapshot(account, "2025-03-31T23:00:00", "70317.229", "31942.40")

    statement = monthly_statement(account=account, month="2025-03")
    data = statement_data(statement)
    assert data["fees"] == "67.08"
    assert data["reconciliation"] == {
        "equity_change": "2259.629",
        "cash_flows": "-29682.771",
        "position_value_change": "31942.4",
        "expected_change": "2259.629",
        "difference": "0",
        "reconciled": True,
    }
    (btc,) = data["symbols"]
    assert (btc["bought"], btc["sold"], btc["fees"], btc["quantity_end"]) == ("0.8", "0.3", "67.08", "0.4991")
    assert [(f["fee"], f["fee_currency"], f["fee_quote"], f["cash_flow"]) for f in data["fills"]] == [
        ("0.0005", "BTC", "30", "-30000"),
        ("0.0003", "BTC", "18.38", "-18370.371"),
        ("12.4", "USDT", "12.4", "12387.6"),
        ("0.0001", "BTC", "6.3", "6300"),
    ]
    # Lots, the rebuilt position and the statement hold the same quantity; cash agrees too.
    # FIFO: the sells take 0.2 + 0.1001 of lot #1 (0.4995), leaving 0.1994 of it and lot #2's 0.2997.
    lots = tax_lots_for_account(account=account).open_lots
    assert [lot.remaining_quantity for lot in lots] == [D("0.1994"), D("0.2997")]
    states, cash = positions_from_fills(account_id=account.pk)
    assert sum(lot.remaining_quantity for lot in lots) == states["BTC/USDT"].quantity == D("0.4991")
    assert states["BTC/USDT"].quantity == statement.symbols[0].quantity_end
    assert cash == statement.closing.cash
    html = statement_html(statement)
    assert "0.0003 BTC (= 18.38 USDT)" in html and "12.4 USDT</td>" in html

    rows = trade_report_rows(account=account, start=at("2025-03-01"), end=at("2025-04-01"))
    assert [(r["fee"], r["fee_currency"], r["fee_quote"]) for r in rows][:2] == [
        ("0.0005", "BTC", "30"),
        ("0.0003", "BTC", "18.38"),
    ]


def test_equity_that_moved_without_a_fill_shows_as_an_unreconciled_difference(book):
    _, account = book
    # A 100 USDT deposit that is not a fill: equity and cash grow, the fills do not explain it.
    EquitySnapshot.objects.filter(account=account, ts=at("2025-03-31T23:00:00")).update(
        equity=D("20926.15"), cash=D("15526.15")
    )
    rec = monthly_statement(account=account, month="2025-03").reconciliation
    assert (rec.equity_change, rec.expected_change, rec.difference) == (D("830.15"), D("730.15"), D("100"))
    assert not rec.reconciled


def test_an_account_opened_in_the_month_opens_at_its_starting_balance():
    account = TradingAccountFactory(starting_balance=D("1000"), cash_balance=D("1000"), created_at=at("2025-03-05"))
    fill(account, 1, "2025-03-06T08:00:00", "BTC/USDT", "buy", "0.01", "50000", "0.5")  # cash -500.5
    snapshot(account, "2025-03-31T23:00:00", "499.5", "510")  # 0.01 BTC marked at 51,000
    data = statement_data(monthly_statement(account=account, month="2025-03"))
    assert data["opening"] == {
        "ts": "2025-03-05T00:00:00.000000Z",
        "equity": "1000",
        "cash": "1000",
        "positions_value": "0",
        "source": "starting_balance",
    }
    assert data["net_pnl"] == "9.5"  # 1,009.5 - 1,000
    assert data["reconciliation"]["expected_change"] == "9.5"  # -500.5 + 510
    assert data["reconciliation"]["reconciled"] is True


def test_without_a_snapshot_before_the_month_the_opening_is_unknown_and_not_guessed():
    account = TradingAccountFactory(created_at=at("2025-01-01"))
    snapshot(account, "2025-03-31T23:00:00", "100000", "0")
    data = statement_data(monthly_statement(account=account, month="2025-03"))
    assert data["opening"] is None and data["net_pnl"] is None and data["reconciliation"] is None
    assert data["closing"]["equity"] == "100000"


def test_a_month_without_snapshots_carries_the_opening_forward(book):
    _, account = book
    data = statement_data(monthly_statement(account=account, month="2025-05"))
    assert data["opening"]["ts"] == "2025-04-01T00:00:00.000000Z"
    assert data["closing"] == {**data["opening"], "source": "carried_forward"}
    assert (data["net_pnl"], data["trades"], data["reconciliation"]["reconciled"]) == ("0", 0, True)
    # BTC was sold out on 04-01; ETH is still held, so it is listed without trades.
    assert [(s["symbol"], s["trades"], s["quantity_end"]) for s in data["symbols"]] == [("ETH/USDT", 0, "1")]


def test_the_statement_and_the_trade_report_take_a_fixed_number_of_queries(book, django_assert_num_queries):
    _, account = book
    with django_assert_num_queries(3):  # fills (with their orders), opening and closing snapshots
        statement_data(monthly_statement(account=account, month="2025-03"))
    with django_assert_num_queries(1):
        trade_report_rows(account=account, start=at("2025-01-01"), end=at("2025-05-01"))


# --- API ----------------------------------------------------------------------------------------


def test_statement_json_over_the_api(book):
    user, account = book
    response = client_for(user).get(f"{STATEMENTS}?account={account.pk}&month=2025-03")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["account"] == {"id": account.pk, "name": "desk one", "exchange": "paper", "quote_currency": "USDT"}
    assert body["net_pnl"] == "730.15" and body["reconciliation"]["difference"] == "0"
    assert body["fills"][0] == {
        "timestamp_utc": "2025-03-01T00:00:00.000000Z",
        "venue": "paper",
        "account": "desk one",
        "symbol": "BTC/USDT",
        "side": "buy",
        "quantity": "0.1",
        "price": "42000",
        "notional": "4200",
        "fee": "4.2",
        "fee_currency": "USDT",
        "fee_quote": "4.2",
        "liquidity": "taker",
        "client_order_id": "gen-2",
        "exchange_order_id": "ex-2",
        "exchange_trade_id": "t-2",
        "realized_pnl": "0",
        "cash_flow": "-4204.2",
    }


def test_statement_html_is_a_standalone_printable_page_in_utc(book):
    user, account = book
    response = client_for(user).get(f"{STATEMENTS}?account={account.pk}&month=2025-03&format=html")
    assert response.status_code == 200 and response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert html.startswith("<!doctype html>")
    assert "Monthly statement — 2025-03" in html and "desk one" in html
    assert "2025-03-01 00:00 UTC to 2025-04-01 00:00 UTC" in html
    assert "20,096.00" in html and "20,826.15" in html and "730.15 (3.6333 %)" in html
    assert "Reconciled to the cent" in html and "2025-03-20T09:15:00.000000Z" in html
    assert "src=" not in html and "href=" not in html and "@import" not in html  # no external assets


def test_statement_html_says_when_it_does_not_reconcile(book):
    user, account = book
    EquitySnapshot.objects.filter(account=account, ts=at("2025-03-31T23:00:00")).update(equity=D("20926.15"))
    html = client_for(user).get(f"{STATEMENTS}?account={account.pk}&month=2025-03&format=html").content.decode()
    assert "Not reconciled: difference of 100" in html and "Reconciled to the cent" not in html


def test_statement_csv_is_an_attachment_with_summary_symbols_and_fills(book):
    user, account = book
    response = client_for(user).get(f"{STATEMENTS}?account={account.pk}&month=2025-03&format=csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="statement-desk-one-2025-03.csv"'
    blocks = csv_blocks(response.content.decode())
    summary = dict(blocks["Summary"][1:])
    assert blocks["Summary"][0] == ["item", "value"]
    assert (summary["opening_equity"], summary["closing_equity"], summary["net_pnl"]) == ("20096", "20826.15", "730.15")
    assert (summary["reconciliation_difference"], summary["reconciliation_reconciled"]) == ("0", "true")
    assert blocks["Symbols"][0] == list(SYMBOL_COLUMNS) and len(blocks["Symbols"]) == 3
    assert blocks["Fills"][0] == list(STATEMENT_FILL_COLUMNS) and len(blocks["Fills"]) == 5
    assert blocks["Fills"][3][-2:] == ["587.1", "6743.25"]


def test_trade_report_csv_has_the_documented_columns_and_exact_values(book):
    user, account = book
    # start given with an offset: 01:00+01:00 is 00:00 UTC, so fill #2 at the start is in; #6 at the end is out.
    query = f"account={account.pk}&start=2025-03-01T01:00:00%2B01:00&end=2025-04-01T00:00:00Z"
    response = client_for(user).get(f"{TRADES}?{query}")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="trades-desk-one-20250301T000000Z-20250401T000000Z.csv"'
    )
    text = response.content.decode()
    assert text.splitlines()[0] == TRADE_HEADER == ",".join(TRADE_REPORT_COLUMNS)
    assert text.endswith("\r\n")
    rows = csv_rows(text)[1:]
    assert [r[-1] for r in rows] == ["t-2", "t-3", "t-4", "t-5"]
    assert rows[2] == [
        "2025-03-20T09:15:00.000000Z",
        "paper",
        "desk one",
        "BTC/USDT",
        "sell",
        "0.15",
        "45000",
        "6750",
        "6.75",
        "USDT",
        "6.75",
        "taker",
        "gen-4",
        "ex-4",
        "t-4",
    ]


def test_position_history_csv_replays_every_fill_of_a_symbol(book):
    user, account = book
    response = client_for(user).get(f"{POSITIONS}?account={account.pk}&symbol=BTC/USDT")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="positions-desk-one-btcusdt.csv"'
    rows = csv_rows(response.content.decode())
    assert rows[0] == list(POSITION_HISTORY_COLUMNS)
    # quantity, average cost (fees in) and cumulative realized P&L after each BTC fill
    assert [r[7:10] for r in rows[1:]] == [
        ["0.1", "40040", "0"],  # (4,000 + 4) / 0.1
        ["0.2", "41041", "0"],
        ["0.05", "41041", "587.1"],
        ["0", "0", "882.7"],  # 587.10 + (47,000 - 41,041) x 0.05 - 2.35
    ]
    assert rows[3][:7] == ["BTC/USDT", "2025-03-20T09:15:00.000000Z", "sell", "0.15", "45000", "6.75", "USDT"]


def test_position_history_without_a_symbol_lists_every_fill(book):
    user, account = book
    rows = csv_rows(client_for(user).get(f"{POSITIONS}?account={account.pk}").content.decode())
    assert [r[-1] for r in rows[1:]] == ["t-1", "t-2", "t-3", "t-4", "t-5", "t-6"]


def test_the_schema_documents_the_reports_their_media_types_and_errors(book):
    user, _ = book
    schema = client_for(user).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    statements = schema["paths"]["/api/v1/statements"]["get"]
    assert set(statements["responses"]["200"]["content"]) == {"application/json", "text/html", "text/csv"}
    assert {p["name"] for p in statements["parameters"]} == {"account", "month", "format"}
    for path in ("/api/v1/reports/trades", "/api/v1/reports/positions"):
        responses = schema["paths"][path]["get"]["responses"]
        assert list(responses["200"]["content"]) == ["text/csv"]
        assert {"400", "401", "403", "404"} <= set(responses)
        assert responses["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ApiError"}


# --- Bad input over the API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("account={id}&month=2025-3", "month", "Not a month: use YYYY-MM, e.g. 2025-03."),
        ("account={id}&month=2025-13", "month", "Not a month: use YYYY-MM, e.g. 2025-03."),
        ("account={id}&month=March", "month", "Not a month: use YYYY-MM, e.g. 2025-03."),
        ("account={id}", "month", "This field is required."),
        ("account={id}&month=2025-03&format=pdf", "format", '"pdf" is not a valid choice.'),
        ("account=x&month=2025-03", "account", "A valid integer is required."),
    ],
)
def test_bad_statement_input_gets_400_naming_the_field(book, query, field, message):
    user, account = book
    response = client_for(user).get(f"{STATEMENTS}?{query.format(id=account.pk)}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["fields"][field] == [message]


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        ("yesterday", "2025-03-01", "start", "Not an ISO 8601 date-time: use e.g. 2025-03-01T00:00:00Z or 2025-03-01."),
    ],
)
def test_bad_trade_report_range_gets_400_naming_the_field(book, start, end, field, message):
    user, account = book
    response = client_for(user).get(f"{TRADES}?account={account.pk}&start={start}&end={end}")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}


def test_a_month_not_begun_is_a_422_naming_the_field(book):
    """Well-formed (the schema's YYYY-MM pattern) but refused by a rule the schema cannot state."""
    user, account = book
    response = client_for(user).get(f"{STATEMENTS}?account={account.pk}&month=2999-01")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["fields"] == {"month": ["2999-01 has not begun yet."]}


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2025-04-01", "2025-03-01", "Must be after start."),
        ("2025-03-01", "2025-03-01", "Must be after start."),
        ("2024-01-01", "2025-01-02", "The range is longer than 366 days; split it."),
        ("2025-03-01", "2025-02-30", "Not an ISO 8601 date-time: use e.g. 2025-03-01T00:00:00Z or 2025-03-01."),
    ],
)
def test_a_range_of_well_formed_moments_that_runs_backwards_or_too_long_is_a_422(book, start, end, message):
    user, account = book
    response = client_for(user).get(f"{TRADES}?account={account.pk}&start={start}&end={end}")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"end": [message]}


def test_a_leap_year_fits_in_one_trade_report(book):
    user, account = book
    response = client_for(user).get(f"{TRADES}?account={account.pk}&start=2024-01-01&end=2025-01-01")
    assert response.status_code == 200 and response.content.decode() == TRADE_HEADER + "\r\n"


def test_a_bad_symbol_gets_400(book):
    user, account = book
    response = client_for(user).get(f"{POSITIONS}?account={account.pk}&symbol=BTC")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"symbol": ["Use BASE/QUOTE, e.g. BTC/USDT."]}


REPORT_URLS = [
    f"{STATEMENTS}?month=2025-03",
    f"{STATEMENTS}?month=2025-03&format=csv",
    f"{TRADES}?start=2025-03-01&end=2025-04-01",
    POSITIONS,
]


@pytest.mark.parametrize("url", REPORT_URLS)
def test_an_account_the_user_cannot_see_is_a_404(book, url):
    user, _ = book
    other = TradingAccountFactory()
    response = client_for(user).get(f"{url}{'&' if '?' in url else '?'}account={other.pk}")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": f"Account {other.pk} not found."}


@pytest.mark.parametrize("url", REPORT_URLS)
def test_no_credentials_get_401(book, url):
    _, account = book
    response = APIClient().get(f"{url}{'&' if '?' in url else '?'}account={account.pk}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_unreplayable_fill_history_is_refused_with_its_reason(book):
    user, account = book
    fill(account, 7, "2025-03-28T00:00:00", "SOL/USDT", "sell", "1", "100", "0.1")  # never bought
    response = client_for(user).get(f"{STATEMENTS}?account={account.pk}&month=2025-03")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "fill_history_inconsistent" and "(t-7) cannot be replayed" in error["message"]


# --- Management commands ------------------------------------------------------------------------


def test_statement_command_writes_the_same_statement_as_the_api(book, tmp_path):
    user, account = book
    out = io.StringIO()
    call_command(
        "statement",
        "--account=desk one",
        "--month=2025-03",
        "--format=json",
        f"--output={tmp_path}/march.json",
        stdout=out,
    )
    assert "written to" in out.getvalue()
    written = json.loads((tmp_path / "march.json").read_text())
    api = client_for(user).get(f"{STATEMENTS}?account={account.pk}&month=2025-03").json()
    assert {**written, "generated_at": None} == {**api, "generated_at": None}

    call_command("statement", "--account", "desk one", "--month", "2025-03", "--output", str(tmp_path / "m.html"))
    assert "Reconciled to the cent" in (tmp_path / "m.html").read_text()
    out = io.StringIO()
    call_command("statement", "--account", "desk one", "--month", "2025-03", "--format", "csv", stdout=out)
    assert csv_blocks(out.getvalue())["Fills"][0] == list(STATEMENT_FILL_COLUMNS)


def test_trade_report_and_position_history_commands_write_csv_files(book, tmp_path):
    out = io.StringIO()
    target = tmp_path / "trades.csv"
    call_command(
        "trade_report", "--account=desk one", "--start=2025-03-01", "--end=2025-04-01", f"--output={target}", stdout=out
    )
    text = target.read_bytes().decode()
    assert text.startswith(TRADE_HEADER + "\r\n") and len(csv_rows(text)) == 5

    target = tmp_path / "eth.csv"
    call_command("position_history", "--account=desk one", "--symbol=ETH/USDT", f"--output={target}", stdout=out)
    rows = csv_rows(target.read_text())
    assert rows[0] == list(POSITION_HISTORY_COLUMNS)
    assert [r[7:10] for r in rows[1:]] == [["2", "3003", "0"], ["1", "3003", "-105.9"]]


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("statement", ["--account", "nope", "--month", "2025-03"], "--account: No account named 'nope'."),
        ("statement", ["--account", "desk one", "--month", "2025/03"], "--month: Not a month: use YYYY-MM"),
        ("statement", ["--account", "desk one", "--month", "2999-12"], "--month: 2999-12 has not begun yet."),
        ("trade_report", ["--account", "desk one", "--start", "2025-04-01", "--end", "2025-03-01"], "--end: Must be"),
        ("trade_report", ["--account", "desk one", "--start", "soon", "--end", "2025-03-01"], "--start: Not an ISO"),
        ("trade_report", ["--account", "desk one", "--start", "2020-01-01", "--end", "2025-03-01"], "--end: The range"),
        ("position_history", ["--account", "nope"], "--account: No account named 'nope'."),
    ],
)
def test_commands_refuse_bad_input_with_a_clear_message_and_write_nothing(book, tmp_path, command, args, message):
    target = tmp_path / "out"
    with pytest.raises(CommandError) as refused:
        call_command(command, *args, "--output", str(target))
    assert str(refused.value).startswith(message)
    assert not target.exists()


def test_commands_refuse_an_output_they_cannot_write(book, tmp_path):
    with pytest.raises(CommandError, match=r"^--output: Cannot write .*missing/x\.csv: No such file or directory\.$"):
        call_command("position_history", "--account", "desk one", "--output", str(tmp_path / "missing" / "x.csv"))
