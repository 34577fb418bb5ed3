"""Fees in a third currency (SPEC T3, T6; Binance's "pay fees with BNB"): converted to the quote at
the fill with a price the system has, stored with the fill (Fill.fee_quote), so positions, realized
P&L, tax lots and statements agree; with no price the fill is still booked, flagged, alerted, and
the P&L figures say they are incomplete. The real ccxt client against the exchange emulator."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from compliance.reports import monthly_statement, statement_data, trade_report_rows
from compliance.services import Actor
from compliance.taxlots import TaxLotFeeCurrency, tax_lots_for_account
from risk.models import Alert
from tests.genesis_site.factories import UserFactory
from tests.trading.conftest import API_KEY
from trading.exchanges.live import ExchangeTrade
from trading.models import Fill, Position, Ticker
from trading.performance import performance_by_symbol, trade_statistics
from trading.services.live_orders import _fee_rates, order_submit_live
from trading.services.positions import positions_rebuild

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")
D = Decimal


def trade(account, adapter, side, key):
    return order_submit_live(
        account=account,
        exchange=adapter,
        symbol="BTC/USDT",
        side=side,
        amount=D("0.01"),
        idempotency_key=key,
        actor=OPS,
    )


def month(now=None) -> str:
    return f"{(now or timezone.now()):%Y-%m}"


def test_a_bnb_fee_is_booked_at_its_usdt_value_and_every_figure_agrees(bnb_fees, live_account, live_adapter):
    trade(live_account, live_adapter, "buy", "gen-bnb-buy")
    (buy,) = Fill.objects.filter(side="buy")
    # 0.01 BTC at 60030.00 = 600.30 USDT; 0.1 % = 0.6003 USDT = 0.0010005 BNB at 600.
    assert (buy.price, buy.fee, buy.fee_currency) == (D("60030"), D("0.0010005"), "BNB")
    assert (buy.fee_quote, buy.fee_unpriced) == (D("0.6003"), False)
    position = Position.objects.get(account=live_account)
    assert (position.quantity, position.average_cost) == (D("0.01"), D("60090.03"))  # (600.30 + 0.6003) / 0.01
    live_account.refresh_from_db()
    assert live_account.cash_balance == D("99399.0997")

    sold = trade(live_account, live_adapter, "sell", "gen-bnb-sell")
    (sell,) = Fill.objects.filter(side="sell")
    # 0.01 BTC at 59970.00 = 599.70 USDT; fee 0.5997 USDT = 0.0009995 BNB.
    assert (sell.fee, sell.fee_currency, sell.fee_quote) == (D("0.0009995"), "BNB", D("0.5997"))
    position.refresh_from_db()
    assert position.quantity == 0
    assert position.realized_pnl == sold.realized_pnl == D("-1.8")  # (59970 - 60090.03) x 0.01 - 0.5997
    live_account.refresh_from_db()
    assert live_account.cash_balance == D("99998.2")  # 100000 - 1.80 of P&L
    with bnb_fees.state.lock:
        assert bnb_fees.state.accounts[API_KEY].free["BNB"] == D("9.998")

    assert positions_rebuild(account_id=live_account.pk, actor=OPS).matches
    lots = tax_lots_for_account(account=live_account, method="FIFO")
    (lot,) = lots.realized
    assert (lot.cost_basis, lot.proceeds, lot.gain) == (D("600.9003"), D("599.1003"), D("-1.8"))
    stats = trade_statistics(account_id=live_account.pk)
    assert (stats["fees"], stats["unpriced_fees"], stats["net_pnl"]) == (D("1.2"), 0, D("-1.8"))
    assert performance_by_symbol(account_id=live_account.pk)[0]["fees"] == D("1.2")
    statement = statement_data(monthly_statement(account=live_account, month=month()))
    assert (statement["fees"], statement["unpriced_fees"], statement["realized_pnl"]) == ("1.2", 0, "-1.8")
    start = timezone.now() - timedelta(days=1)
    rows = trade_report_rows(account=live_account, start=start, end=timezone.now() + timedelta(minutes=1))
    assert [(r["fee"], r["fee_currency"], r["fee_quote"]) for r in rows] == [
        ("0.0010005", "BNB", "0.6003"),
        ("0.0009995", "BNB", "0.5997"),
    ]
    viewer = UserFactory(role="viewer")
    live_account.members.add(viewer)
    api = APIClient()
    api.force_login(viewer)
    listed = api.get("/api/v1/fills", {"account": live_account.pk}).json()["results"]
    assert [(f["fee"], f["fee_quote"], f["fee_unpriced"]) for f in listed] == [
        ("0.0009995", "0.5997", False),
        ("0.0010005", "0.6003", False),
    ]


def test_without_a_bnb_price_the_fill_is_booked_flagged_and_alerted_and_the_figures_say_incomplete(
    bnb_fees, live_account, live_adapter
):
    bnb_fees.state.inject("status", path="ticker/24hr", status=503, times=20)  # the exchange's ticker is down
    bought = trade(live_account, live_adapter, "buy", "gen-bnb-dark")
    assert bought.status == "filled"
    (fill,) = Fill.objects.all()
    assert (fill.fee, fill.fee_currency, fill.fee_quote, fill.fee_unpriced) == (D("0.0010005"), "BNB", None, True)
    position = Position.objects.get(account=live_account)
    assert (position.quantity, position.average_cost) == (D("0.01"), D("60030"))  # no fee: never 0.0010005 USDT
    live_account.refresh_from_db()
    assert live_account.cash_balance == D("99399.7")
    alert = Alert.objects.get(account=live_account, type="fee_unpriced")
    assert "0.0010005 BNB" in alert.message and "incomplete" in alert.message

    assert trade_statistics(account_id=live_account.pk)["unpriced_fees"] == 1
    statement = statement_data(monthly_statement(account=live_account, month=month()))
    assert (statement["fees"], statement["unpriced_fees"]) == ("0", 1)
    assert statement["fills"][0]["fee_quote"] is None
    with pytest.raises(TaxLotFeeCurrency, match="no BNB/USDT price was found"):
        tax_lots_for_account(account=live_account, method="FIFO")
    assert positions_rebuild(account_id=live_account.pk, actor=OPS).matches


def test_a_stored_price_at_the_fill_comes_before_the_exchange(live_account):
    now = timezone.now()
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=now - timedelta(minutes=20), last=D("590"))
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=now - timedelta(minutes=1), last=D("612.5"))
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=now + timedelta(minutes=1), last=D("700"))
    fee = ExchangeTrade("t1", "o1", "BTC/USDT", "buy", D("60000"), D("0.01"), D("0.001"), "BNB", "taker", None)
    assert _fee_rates([fee], symbol="BTC/USDT", exchange=None, now=now) == {"t1": D("612.5")}
    stale = now - timedelta(minutes=30)  # no ticker at or in the 15 minutes before that moment
    assert _fee_rates([fee], symbol="BTC/USDT", exchange=None, now=stale) == {"t1": None}
