"""SPEC T6/§10 on PostgreSQL: two late fee pricing passes at once (the beat's task and an
operator's command) price a fill once; the cash, the position and the audit trail take it once."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from compliance.models import AuditEvent
from tests.trading.factories import TradingAccountFactory
from tests.trading.test_services_fees import OPS, book_fill
from trading.models import Fill, Position, Ticker, TradingAccount
from trading.services.fees import fees_price_unpriced
from trading.services.positions import positions_rebuild

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
D = Decimal


def test_two_passes_racing_price_a_fill_once():
    account = TradingAccountFactory(mode="LIVE", exchange_id="binance")
    at = timezone.now() - timedelta(hours=1)
    book_fill(account, "buy", "buy", D("0.02"), D("50000"), D("0.002"), "BNB", at)
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=at - timedelta(minutes=1), last=D("600"))
    results = []

    def price():
        try:
            results.append(fees_price_unpriced(account_id=account.pk))
        finally:
            connection.close()

    passes = [threading.Thread(target=price) for _ in range(2)]
    with transaction.atomic():  # a booking of the symbol in progress holds the position row
        Position.objects.select_for_update().get(account=account)
        for thread in passes:
            thread.start()
        time.sleep(0.3)
        waiting = all(thread.is_alive() for thread in passes)
    for thread in passes:
        thread.join(timeout=10)

    assert waiting
    assert sorted(len(r.priced) for r in results) == [0, 1]
    (fill,) = Fill.objects.filter(account=account)
    assert (fill.fee_quote, fill.fee_unpriced) == (D("1.2"), False)  # 0.002 BNB x 600
    account.refresh_from_db()
    assert account.cash_balance == D("100000") - D("1000") - D("1.2")
    assert Position.objects.get(account=account).average_cost == D("50060")  # (1000 + 1.2) / 0.02
    assert AuditEvent.objects.filter(action="fees.priced").count() == 1
    assert positions_rebuild(account_id=account.pk, actor=OPS).matches
    assert TradingAccount.objects.get(pk=account.pk).cash_balance == account.cash_balance


def test_a_sell_booked_while_a_pass_waits_sends_the_symbol_to_the_next_pass():
    """The pass locks the orders it can change, then waits on the position a booking holds;
    that booking commits a sell of a new order, whose realized P&L the fee changes too but
    whose row the pass did not lock: the pass leaves the symbol alone, the next one prices it."""
    account = TradingAccountFactory(mode="LIVE", exchange_id="binance")
    at = timezone.now() - timedelta(hours=1)
    book_fill(account, "buy", "buy", D("0.02"), D("50000"), D("0.002"), "BNB", at)
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=at - timedelta(minutes=1), last=D("600"))
    results = []

    def price():
        try:
            results.append(fees_price_unpriced(account_id=account.pk))
        finally:
            connection.close()

    waiting_pass = threading.Thread(target=price)
    with transaction.atomic():  # the sell's booking holds the position row
        Position.objects.select_for_update().get(account=account)
        waiting_pass.start()
        time.sleep(0.3)
        sell = book_fill(account, "sell", "sell", D("0.02"), D("51000"), D("1.02"), "USDT", timezone.now())
    waiting_pass.join(timeout=10)

    assert [r.priced for r in results] == [[]]
    assert Fill.objects.get(account=account, side="buy").fee_unpriced
    assert fees_price_unpriced(account_id=account.pk).priced  # the next pass
    sell.refresh_from_db()
    assert sell.realized_pnl == D("17.78")  # (51000 - 50060) x 0.02 - 1.02: the buy's 1.2 BNB fee in its cost
    assert positions_rebuild(account_id=account.pk, actor=OPS).matches
