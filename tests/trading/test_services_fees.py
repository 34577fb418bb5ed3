"""Third-currency fees priced at the fill's time (SPEC T3, T6): a fill reconciled late is never
priced at today's ticker, and a fill booked without a price is priced later to exactly the state
its booking would have left with the price known. The real ccxt client against the emulator."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from compliance.models import AuditEvent
from compliance.services import Actor
from compliance.taxlots import tax_lots_for_account
from genesis_site.scheduler import beat_jobs
from risk.models import Alert
from tests.genesis_site.factories import UserFactory
from tests.trading.conftest import API_KEY, SECRET
from tests.trading.factories import TradingAccountFactory
from trading.exchanges.live import ExchangeOrder, ExchangeTrade
from trading.models import Fill, Order, Position, Ticker, TradingAccount
from trading.performance import trade_statistics
from trading.positions import fee_quote_value
from trading.services.credentials import credential_store
from trading.services.fees import fees_price_unpriced
from trading.services.live_orders import order_apply_remote, order_submit_live
from trading.services.positions import positions_rebuild
from trading.services.reconcile import reconcile_account
from trading.tasks import fees_price_all_task, fees_price_task

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")
D = Decimal
FEE = D("0.0010005")  # BNB: 0.1 % of a 0.01 BTC buy at 60030 = 0.6003 USDT, at 600 USDT a BNB


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


def lost_buy_traded_at(emulator, account, adapter, *, at: datetime) -> Order:
    """A buy whose answer was lost, found by reconciliation later: on the exchange it traded at `at`."""
    emulator.state.inject("drop_response", path="order", method="POST")
    emulator.state.inject("not_found", path="order", method="GET")  # the settle lookup is denied too
    order = trade(account, adapter, "buy", "gen-late")
    assert order.status == "submitted"
    with emulator.state.lock:
        emulator.state.trades[-1]["time"] = int(at.timestamp() * 1000)
    reconcile_account(account_id=account.pk, exchange=adapter)
    return order


def minute_bar(emulator, symbol_id: str, at: datetime, open_: Decimal) -> None:
    """The exchange's 1-minute kline of `at`'s minute opened at `open_` (Binance keeps them all)."""
    minute = int(at.timestamp()) // 60 * 60_000
    with emulator.state.lock:
        bars = emulator.state.candles.setdefault(symbol_id, [])
        bars.insert(0, [minute, open_, open_, open_, open_ + 5, D("0")])


def test_a_fill_reconciled_late_takes_the_stored_price_at_its_time_not_the_ticker_now(
    bnb_fees, live_account, live_adapter
):
    at = timezone.now() - timedelta(hours=2)
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=at - timedelta(minutes=2), last=D("550"))
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=at + timedelta(minutes=1), last=D("580"))  # after
    lost_buy_traded_at(bnb_fees, live_account, live_adapter, at=at)
    (fill,) = Fill.objects.all()
    assert fill.traded_at == at.replace(microsecond=at.microsecond // 1000 * 1000)
    assert (fill.fee, fill.fee_quote, fill.fee_unpriced) == (FEE, D("0.550275"), False)  # 0.0010005 x 550
    assert Position.objects.get(account=live_account).average_cost == D("60085.0275")  # (600.30 + 0.550275) / 0.01
    viewer = UserFactory(role="viewer")
    live_account.members.add(viewer)
    api = APIClient()
    api.force_login(viewer)
    (listed,) = api.get("/api/v1/fills", {"account": live_account.pk}).json()["results"]
    assert datetime.fromisoformat(listed["traded_at"].replace("Z", "+00:00")) == fill.traded_at
    assert (listed["fee_quote"], listed["fee_unpriced"]) == ("0.550275", False)


def test_a_fill_reconciled_late_without_a_price_at_its_time_stays_unpriced_then_takes_the_klines(
    bnb_fees, live_account, live_adapter
):
    at = timezone.now() - timedelta(hours=2)
    lost_buy_traded_at(bnb_fees, live_account, live_adapter, at=at)  # the ticker says 600 now: not used
    (fill,) = Fill.objects.all()
    assert (fill.fee_quote, fill.fee_unpriced) == (None, True)
    assert Alert.objects.get(account=live_account, type="fee_unpriced").status == "open"

    assert fees_price_unpriced(account_id=live_account.pk, exchange=live_adapter).priced == []  # no bar of it yet
    minute_bar(bnb_fees, "BNBUSDT", at, D("580"))  # the exchange's klines of that minute
    result = fees_price_unpriced(account_id=live_account.pk, exchange=live_adapter)
    fill.refresh_from_db()
    assert result.priced == [fill.pk] and result.unpriced == 0
    assert (fill.fee_quote, fill.fee_unpriced) == (D("0.580290"), False)  # 0.0010005 x 580, the minute's open
    position = Position.objects.get(account=live_account)
    assert (position.quantity, position.average_cost) == (D("0.01"), D("60088.029"))  # (600.30 + 0.58029) / 0.01
    live_account.refresh_from_db()
    assert live_account.cash_balance == D("99399.11971")  # 100000 - 600.30 - 0.58029
    assert positions_rebuild(account_id=live_account.pk, actor=OPS).matches
    (event,) = AuditEvent.objects.filter(action="fees.priced")
    assert event.payload["fills"][0]["source"] == "exchange_kline" and D(event.payload["cash"]) == D("-0.58029")
    assert Alert.objects.get(account=live_account, type="fee_unpriced").status == "resolved"


def test_a_fill_booked_unpriced_and_priced_later_ends_where_booking_with_the_price_would_have(
    bnb_fees, live_account, live_adapter
):
    """The buy and the sell of test_fees_third_currency's priced case, booked while the exchange's
    ticker was down: priced later, every figure is the priced case's, to the cent."""
    bnb_fees.state.inject("status", path="ticker/24hr", status=503, times=40)
    trade(live_account, live_adapter, "buy", "gen-dark-buy")
    sold = trade(live_account, live_adapter, "sell", "gen-dark-sell")
    assert list(Fill.objects.values_list("fee_unpriced", flat=True)) == [True, True]
    assert sold.realized_pnl == D("-0.6")  # (59970 - 60030) x 0.01: no fee in it
    assert Alert.objects.get(account=live_account, type="fee_unpriced").count == 2

    for fill in Fill.objects.all():  # the market data catches up: BNB/USDT stored at the fills' time
        Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=fill.time - timedelta(seconds=5), last=D("600"))
    call_command("fees_price", live_account.name, "--no-exchange")

    buy, sell = Fill.objects.order_by("pk")
    assert (buy.fee_quote, sell.fee_quote, buy.fee_unpriced, sell.fee_unpriced) == (D("0.6003"), D("0.5997"), 0, 0)
    position = Position.objects.get(account=live_account)
    assert (position.quantity, position.average_cost, position.realized_pnl) == (0, 0, D("-1.8"))
    sold.refresh_from_db()
    assert sold.realized_pnl == D("-1.8")  # (59970 - 60090.03) x 0.01 - 0.5997
    assert Order.objects.get(idempotency_key="gen-dark-buy").realized_pnl == 0
    live_account.refresh_from_db()
    assert live_account.cash_balance == D("99998.2")
    assert positions_rebuild(account_id=live_account.pk, actor=OPS).matches
    stats = trade_statistics(account_id=live_account.pk)
    assert (stats["fees"], stats["unpriced_fees"], stats["net_pnl"]) == (D("1.2"), 0, D("-1.8"))
    (lot,) = tax_lots_for_account(account=live_account, method="FIFO").realized  # refused while unpriced
    assert lot.gain == D("-1.8")
    alert = Alert.objects.get(account=live_account, type="fee_unpriced")
    assert (alert.status, alert.resolved_by) == ("resolved", "cli")  # the command's --actor
    assert AuditEvent.objects.filter(action="fees.priced").count() == 1

    fees_price_all_task()  # the periodic run finds nothing left: no change, no event
    assert AuditEvent.objects.filter(action="fees.priced").count() == 1
    live_account.refresh_from_db()
    assert live_account.cash_balance == D("99998.2")


def test_the_periodic_task_prices_what_it_can_and_leaves_the_alert_open_for_the_rest():
    dark = TradingAccountFactory(mode="LIVE", exchange_id="binance")  # no credentials: stored prices only
    at = timezone.now() - timedelta(hours=3)
    book_fill(dark, "o1", "buy", D("0.02"), D("50000"), D("0.002"), "BNB", at)
    book_fill(dark, "o2", "buy", D("0.01"), D("50000"), D("0.001"), "ETH", at)  # no ETH/USDT price anywhere
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=at - timedelta(minutes=14), last=D("500.5"))
    jobs = beat_jobs(django_settings.CELERY_BEAT_SCHEDULE)
    (run,) = [job for name, _, job in jobs if name == "trading.fees_price_all"]
    run()  # as the scheduler (embedded, or celery beat with the same entry) runs it
    bnb, eth = Fill.objects.filter(account=dark).order_by("pk")
    assert (bnb.fee_quote, bnb.fee_unpriced, eth.fee_quote, eth.fee_unpriced) == (D("1.001"), False, None, True)
    assert Alert.objects.get(account=dark, type="fee_unpriced").status == "open"
    assert positions_rebuild(account_id=dark.pk, actor=OPS).matches
    with pytest.raises(CommandError, match="1 fills have no price for their fee yet"):
        call_command("fees_price", dark.name)


def book_fill(account, key, side, amount, price, fee, currency, at) -> Order:
    """One LIVE fill booked by the real booking path (order_apply_remote), no exchange to ask."""
    order = Order.objects.create(
        account=account, symbol="BTC/USDT", side=side, amount=amount, idempotency_key=f"{account.pk}-{key}"
    )
    ms = int(at.timestamp() * 1000)
    fill = ExchangeTrade(f"t-{key}", f"x-{key}", "BTC/USDT", side, price, amount, fee, currency, "taker", ms)
    remote = ExchangeOrder(
        f"x-{key}", order.idempotency_key, "BTC/USDT", side, "market", "filled", amount, amount, None, price,
        fee, currency, ms, (fill,),
    )  # fmt: skip
    return order_apply_remote(order_id=order.pk, remote=remote, trades=[fill], actor=OPS)


def book(account, key, step, at) -> Order:
    side, amount, price, currency, fee, _ = step
    return book_fill(account, key, side, amount, price, fee, currency, at)


STEP = st.tuples(
    st.sampled_from(["buy", "buy", "sell"]),
    st.integers(1, 300).map(lambda n: D(n) / 1000),  # BTC
    st.integers(2_000_000, 8_000_000).map(lambda n: D(n) / 100),  # USDT per BTC
    st.sampled_from(["BNB", "BNB", "USDT", "BTC"]),  # the fee's currency
    st.integers(1, 3_000_000).map(lambda n: D(n) / 10**8),  # the fee, in that currency
    st.one_of(st.none(), st.integers(10_000, 90_000).map(lambda n: D(n) / 100)),  # USDT per BNB, or no price
)


def valid(steps):
    """Drop the sells the position cannot cover; fees in BTC are 0.1 % of the amount."""
    held, out = D("0"), []
    for side, amount, price, currency, fee, rate in steps:
        fee = amount / 1000 if currency == "BTC" else fee
        if side == "sell" and amount + (fee if currency == "BTC" else 0) > held:
            continue
        held += amount - fee * (currency == "BTC") if side == "buy" else -amount - fee * (currency == "BTC")
        out.append((side, amount, price, currency, fee, rate))
    return out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=8).map(valid).filter(bool))
def test_late_pricing_equals_booking_with_the_prices_known(steps):
    """Any sequence of buys and sells with fees in BNB, USDT and BTC: booked with no BNB price,
    then priced late, the position, every order's realized P&L and the cash equal those of the
    same fills booked with the prices known (some BNB fees have none, in both); the rebuild from
    fills agrees with both."""
    with transaction.atomic():
        start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        late, known = TradingAccountFactory(mode="LIVE"), TradingAccountFactory(mode="LIVE")
        times = [start + timedelta(minutes=20 * i) for i in range(len(steps))]
        late_orders = [book(late, f"l{i}", step, at) for i, (at, step) in enumerate(zip(times, steps, strict=True))]
        for at, step in zip(times, steps, strict=True):
            if step[5] is not None:  # 20 minutes apart: the price of one fill is too old for the next
                Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=at - timedelta(seconds=30), last=step[5])
        known_orders = [book(known, f"k{i}", step, at) for i, (at, step) in enumerate(zip(times, steps, strict=True))]
        bnb = [s for s in steps if s[3] == "BNB" and s[5] is not None]
        result = fees_price_unpriced(account_id=late.pk)
        assert (len(result.priced), result.unpriced) == (
            len(bnb),
            Fill.objects.filter(account=known, fee_unpriced=True).count(),
        )

        (want,), (got,) = Position.objects.filter(account=known), Position.objects.filter(account=late)
        assert (got.quantity, got.average_cost, got.realized_pnl) == (
            want.quantity,
            want.average_cost,
            want.realized_pnl,
        )
        assert [Order.objects.get(pk=o.pk).realized_pnl for o in late_orders] == [
            Order.objects.get(pk=o.pk).realized_pnl for o in known_orders
        ]
        cash = dict(TradingAccount.objects.filter(pk__in=[late.pk, known.pk]).values_list("pk", "cash_balance"))
        assert cash[late.pk] == cash[known.pk]
        assert sum(fee_quote_value(fee=s[4], rate=s[5]) for s in bnb) == sum(
            Fill.objects.filter(account=late).exclude(fee_quote=None).values_list("fee_quote", flat=True)
        )
        assert positions_rebuild(account_id=late.pk, actor=OPS).matches
        assert positions_rebuild(account_id=known.pk, actor=OPS).matches
        transaction.set_rollback(True)  # the next example starts from an empty market-data table


def test_the_trades_of_one_order_hours_apart_are_each_priced_at_their_own_time():
    account = TradingAccountFactory(mode="LIVE", exchange_id="binance")
    first, second = timezone.now() - timedelta(hours=3), timezone.now() - timedelta(hours=1)
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=first - timedelta(minutes=1), last=D("500"))
    Ticker.objects.create(source="binance", symbol="BNB/USDT", ts=second - timedelta(minutes=1), last=D("700"))
    order = Order.objects.create(account=account, symbol="BTC/USDT", side="buy", amount=D("0.02"), idempotency_key="k")
    trades = [
        ExchangeTrade(f"t{i}", "x", "BTC/USDT", "buy", D("50000"), D("0.01"), D("0.001"), "BNB", "maker", ms)
        for i, ms in enumerate(int(at.timestamp() * 1000) for at in (first, second))
    ]
    remote = ExchangeOrder(
        "x", "k", "BTC/USDT", "buy", "limit", "filled", D("0.02"), D("0.02"), D("50000"), D("50000"),
        D("0.002"), "BNB", trades[0].timestamp, tuple(trades),
    )  # fmt: skip
    order_apply_remote(order_id=order.pk, remote=remote, trades=trades, actor=OPS)
    assert list(Fill.objects.order_by("pk").values_list("fee_quote", flat=True)) == [D("0.5"), D("0.7")]
    account.refresh_from_db()
    assert account.cash_balance == D("100000") - D("1000") - D("1.2")


def test_the_task_asks_the_accounts_exchange_for_the_klines_of_the_fills_minute(emulator, capsys):
    account = TradingAccountFactory(name="live-bnb", mode="LIVE", exchange_id="binance")
    credential_store(account=account, api_key=API_KEY, secret=SECRET, actor=OPS)
    at = timezone.now() - timedelta(hours=2)
    book_fill(account, "buy", "buy", D("0.01"), D("60000"), D("0.001"), "BNB", at)
    book_fill(account, "sell", "sell", D("0.01"), D("61000"), D("0.001"), "BNB", at + timedelta(minutes=30))
    minute_bar(emulator, "BNBUSDT", at, D("590.5"))  # no bar of the sell's minute
    with override_settings(GENESIS_EXCHANGE_URL=emulator.url):
        fees_price_task(account.pk)
        buy, sell = Fill.objects.order_by("pk")
        assert (buy.fee_quote, buy.fee_unpriced, sell.fee_quote, sell.fee_unpriced) == (D("0.5905"), False, None, True)
        minute_bar(emulator, "BNBUSDT", at + timedelta(minutes=30), D("601"))
        call_command("fees_price", "live-bnb")
    assert "live-bnb: priced 1 fills, 0 still unpriced, resolved 1 fee_unpriced alerts" in capsys.readouterr().out
    position = Position.objects.get(account=account)
    assert position.realized_pnl == D("8.8085")  # (61000 - 60059.05) x 0.01 - 0.601
    assert positions_rebuild(account_id=account.pk, actor=OPS).matches
