"""Performance reads (SPEC O2) count fees in the quote currency, whatever they were charged in."""

from decimal import Decimal

import pytest

from tests.trading.factories import FillFactory, OrderFactory, StrategyFactory, TradingAccountFactory
from trading.performance import performance_by_strategy, performance_by_symbol, trade_statistics

pytestmark = pytest.mark.django_db


@pytest.fixture
def fills():
    account = TradingAccountFactory()
    strategy = StrategyFactory(account=account, name="trend")
    buy = OrderFactory(account=account, strategy=strategy, side="buy", amount=Decimal("0.5"), status="filled")
    # Binance's buy fee: 0.0005 BTC at 60,000 = 30.00 USDT
    FillFactory(order=buy, price=Decimal("60000"), fee=Decimal("0.0005"), fee_currency="BTC")
    sell = OrderFactory(
        account=account,
        strategy=strategy,
        side="sell",
        amount=Decimal("0.4995"),
        status="filled",
        realized_pnl=Decimal("938.03"),
    )
    FillFactory(order=sell, price=Decimal("62000"), fee=Decimal("30.969"), fee_currency="USDT")
    # A manual order cancelled after a partial fill paid its fee too: 0.0001 BTC at 61,234.56 = 6.1234.. -> 6.13 up
    manual = OrderFactory(account=account, side="buy", amount=Decimal("0.2"), status="cancelled")
    FillFactory(
        order=manual, amount=Decimal("0.1"), price=Decimal("61234.56"), fee=Decimal("0.0001"), fee_currency="BTC"
    )
    return account


def test_fees_per_symbol_value_base_asset_fees_at_their_fill_price(fills):
    (row,) = performance_by_symbol(account_id=fills.pk)
    assert row["fees"] == Decimal("30.00") + Decimal("30.969") + Decimal("6.13")


def test_fees_per_strategy_are_the_strategys_own_fills_valued_in_quote(fills):
    rows = {row["name"]: row["fees"] for row in performance_by_strategy(account_id=fills.pk)}
    assert rows == {"trend": Decimal("60.969")}


def test_trade_statistics_fees_are_one_currency(fills):
    assert trade_statistics(account_id=fills.pk)["fees"] == Decimal("67.099")
