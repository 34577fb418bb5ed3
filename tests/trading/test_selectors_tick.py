"""tick_reads (the engine's one statement for P&L bases, breakers, symbol locks and pacing)
answers exactly what the ORM selectors answer, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from risk.models import CircuitBreakerState, SymbolLock
from risk.policy import RiskPolicy
from risk.selectors import breakers_open, symbols_locked
from tests.trading.factories import OrderFactory, TradingAccountFactory
from trading.models import EquitySnapshot, Position
from trading.selectors import pnl_bases, tick_reads, trading_pacing

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 14, 30, 15, 250000, tzinfo=UTC)  # a Wednesday


def orm_reads(account, policy):
    return {
        "bases": pnl_bases(account=account, now=NOW),
        "open_breakers": tuple(breakers_open(account_id=account.pk, now=NOW, policy=policy)),
        "locked_symbols": symbols_locked(account_id=account.pk, now=NOW),
        "pacing": trading_pacing(account_id=account.pk, now=NOW),
    }


def one_statement(account, policy):
    reads = tick_reads(account=account, now=NOW, policy=policy, positions=Position.objects.filter(account=account))
    return {k: getattr(reads, k) for k in ("bases", "open_breakers", "locked_symbols", "pacing")}


def test_an_account_with_nothing_yet():
    account = TradingAccountFactory(starting_balance=Decimal("2500.5"))
    policy = RiskPolicy()
    reads = one_statement(account, policy)
    assert reads == orm_reads(account, policy)
    assert reads["bases"] == {"today": Decimal("2500.5"), "week": Decimal("2500.5")}
    assert reads["pacing"].trades_today == 0 and reads["pacing"].seconds_since_last_trade is None


def test_a_busy_account_reads_the_same_through_one_statement():
    account, other = TradingAccountFactory(), TradingAccountFactory()
    policy = RiskPolicy.model_validate({"circuit_breakers": {"exchange_status": {"recovery_seconds": 600}}})
    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    for ts, equity in (
        (day - timedelta(days=3, seconds=1), "99876.1234567891"),  # last week
        (day - timedelta(days=2), "100123.4567890123"),  # Monday 00:00
        (day - timedelta(microseconds=1), "100321.0000000001"),  # the day's base
        (day, "100500.5"),  # at 00:00: counts for the day (ts <= start)
        (NOW - timedelta(minutes=5), "101000"),
    ):
        EquitySnapshot.objects.create(
            account=account, ts=ts, equity=Decimal(equity), cash=0, positions_value=0, realized_pnl=0, unrealized_pnl=0
        )
    zero = {"cash": 0, "positions_value": 0, "realized_pnl": 0, "unrealized_pnl": 0}
    EquitySnapshot.objects.create(account=other, ts=day - timedelta(hours=1), equity=1, **zero)
    for source, state, opened in (
        ("exchange_status", "open", NOW - timedelta(seconds=300)),  # inside its 600 s recovery
        ("api_error_burst", "open", NOW - timedelta(seconds=61)),  # past the default 60 s
        ("latency", "open", NOW - timedelta(seconds=10)),
        ("order_rejection_burst", "closed", NOW - timedelta(seconds=5)),
    ):
        CircuitBreakerState.objects.create(account=account, source=source, state=state, opened_at=opened)
    CircuitBreakerState.objects.create(account=other, source="latency", state="open", opened_at=NOW)
    for symbol, until in (("ETH/USDT", NOW + timedelta(minutes=5)), ("SOL/USDT", NOW - timedelta(seconds=1))):
        SymbolLock.objects.create(account=account, symbol=symbol, until=until, reason="r", created_by="ops")
    SymbolLock.objects.create(account=other, symbol="BTC/USDT", until=NOW, reason="", created_by="")
    for symbol, status, ago in (
        ("BTC/USDT", "filled", timedelta(minutes=10)),
        ("BTC/USDT", "filled", timedelta(hours=3)),
        ("BTC/USDT", "rejected", timedelta(minutes=1)),  # not a trade
        ("ETH/USDT", "cancelled", timedelta(minutes=59, seconds=59)),
        ("ETH/USDT", "new", timedelta(seconds=1)),  # not a trade
        ("SOL/USDT", "filled", timedelta(days=1)),  # yesterday
        ("SOL/USDT", "submitted", timedelta(hours=14, minutes=30, seconds=15, microseconds=250000)),  # at 00:00
    ):
        OrderFactory(account=account, symbol=symbol, status=status, created_at=NOW - ago)
    OrderFactory(account=other, symbol="BTC/USDT", status="filled", created_at=NOW)
    Position.objects.create(account=account, symbol="BTC/USDT", quantity=1, opened_at=NOW - timedelta(minutes=30))
    Position.objects.create(account=account, symbol="ETH/USDT", quantity=1, opened_at=NOW - timedelta(hours=2))
    Position.objects.create(account=account, symbol="SOL/USDT")

    reads = one_statement(account, policy)
    assert reads == orm_reads(account, policy)
    # Monday 00:00 is the week's start: its snapshot is the week's base (SQLite keeps 15 digits).
    assert reads["bases"]["today"] == Decimal("100500.5")
    assert reads["bases"]["week"].quantize(Decimal("0.000001")) == Decimal("100123.456789")
    assert reads["open_breakers"] == ("exchange_status", "latency")
    assert reads["locked_symbols"] == frozenset({"ETH/USDT"})
    pacing = reads["pacing"]
    assert (pacing.trades_today, pacing.trades_last_hour, pacing.new_positions_last_hour) == (4, 2, 1)
    assert pacing.seconds_since_last_trade == 600
    assert set(pacing.seconds_since_symbol_trade) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}


@pytest.mark.parametrize(
    ("source", "state", "failures", "unsettled"),
    [
        ("order_rejection_burst", "closed", 0, False),
        ("order_rejection_burst", "closed", 2, True),  # failures to forgive
        ("order_rejection_burst", "half_open", 0, True),
        ("order_rejection_burst", "open", 5, True),
        ("api_error_burst", "open", 5, False),  # another breaker
    ],
)
def test_the_order_rejection_breaker_is_unsettled_until_closed_without_failures(source, state, failures, unsettled):
    account, other = TradingAccountFactory(), TradingAccountFactory()
    CircuitBreakerState.objects.create(account=account, source=source, state=state, failures=failures, opened_at=NOW)
    CircuitBreakerState.objects.create(account=other, source="order_rejection_burst", state="open", failures=9)
    reads = tick_reads(account=account, now=NOW, policy=RiskPolicy(), positions=[])
    assert reads.rejections_unsettled is unsettled
    assert one_statement(account, RiskPolicy()) == orm_reads(account, RiskPolicy())  # breakers_open unchanged
