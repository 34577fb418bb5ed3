"""SPEC R6 stop levels: pause entries, halt, flatten and release, through the services and
the management command, against a running engine."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor
from risk.models import SymbolLock
from risk.services import StopRefused, trading_flatten, trading_halt, trading_pause_entries, trading_release
from tests.risk.factories import active_policy, unpaced_policy
from tests.trading.factories import OrderFactory, StrategyFactory, TradingAccountFactory
from trading.models import Order, Position, StopLevel, Strategy
from trading.services.engine import engine_tick

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")


@pytest.fixture
def account():
    account = TradingAccountFactory(name="acct")
    StrategyFactory(account=account, name="momo")
    active_policy(account)
    return account


def tick_until(account, predicate, limit=300):
    for _ in range(limit):
        engine_tick(account_id=account.pk)
        if predicate():
            return
    raise AssertionError("condition not reached")


def has_position():
    return Position.objects.filter(quantity__gt=0).exists()


def test_halt_cancels_open_orders_and_no_order_follows_its_audit_event(account):
    open_order = OrderFactory(account=account, status="submitted")
    assert trading_halt(account_id=account.pk, actor=OPS, reason="exchange incident").cancelled_orders == 1
    open_order.refresh_from_db()
    account.refresh_from_db()
    assert (open_order.status, account.stop_level, account.stop_reason) == ("cancelled", "halt", "exchange incident")
    halt_seq = AuditEvent.objects.get(action="stop.halt").sequence
    for _ in range(100):
        engine_tick(account_id=account.pk)
    assert not AuditEvent.objects.filter(action="order.new", sequence__gt=halt_seq).exists()
    assert Order.objects.count() == 1
    assert audit_chain_verify().ok


def test_pause_entries_makes_no_entry_but_exits_still_close_positions(account):
    tick_until(account, has_position)
    trading_pause_entries(account_id=account.pk, actor=OPS, reason="news risk")
    tick_until(account, lambda: not has_position())  # the strategy's exit went through
    buys_after_pause = Order.objects.filter(
        side="buy", created_at__gt=AuditEvent.objects.get(action="stop.pause_entries").ts
    )
    for _ in range(150):
        engine_tick(account_id=account.pk)
    assert not buys_after_pause.exists()
    assert AuditEvent.objects.filter(action="risk.refused", payload__rule="pause_entries").exists()


def test_a_paused_strategy_still_exits_and_resumes_on_release(account):
    unpaced_policy(account)  # re-entry right after the exit
    tick_until(account, has_position)
    trading_pause_entries(account_id=account.pk, actor=OPS, reason="review", strategy="momo")
    assert Strategy.objects.get(name="momo").state == "paused"
    tick_until(account, lambda: not has_position())
    trading_release(account_id=account.pk, actor=OPS, reason="reviewed", strategy="momo")
    tick_until(account, has_position)


def test_flatten_closes_every_position_and_halts(account):
    tick_until(account, has_position)
    assert trading_flatten(account_id=account.pk, actor=OPS, reason="end of test").closed_positions == 1
    account.refresh_from_db()
    assert account.stop_level == StopLevel.FLATTEN
    assert not Position.objects.filter(quantity__gt=0).exists()
    sell = Order.objects.get(side="sell")
    assert sell.status == "filled" and sell.strategy is None
    assert account.cash_balance == Decimal("100000") + sum(
        (p.realized_pnl for p in Position.objects.filter(account=account)), Decimal("0")
    )
    assert audit_chain_verify().ok


def test_a_symbol_lock_refuses_entries_until_it_expires_or_is_released(account):
    trading_pause_entries(account_id=account.pk, actor=OPS, reason="listing news", symbol="BTC/USDT", minutes=30)
    for _ in range(80):
        engine_tick(account_id=account.pk)
    assert not Order.objects.exists()
    assert AuditEvent.objects.filter(action="risk.refused", payload__rule="symbol_lock").exists()
    trading_release(account_id=account.pk, actor=OPS, reason="news passed", symbol="BTC/USDT")
    assert not SymbolLock.objects.filter(until__gt=timezone.now()).exists()
    tick_until(account, has_position)


def test_release_returns_the_account_to_trading_and_everything_is_audited(account):
    trading_halt(account_id=account.pk, actor=OPS, reason="drill")
    trading_release(account_id=account.pk, actor=OPS, reason="drill over")
    account.refresh_from_db()
    assert account.stop_level == StopLevel.NONE
    actions = list(AuditEvent.objects.filter(action__startswith="stop.").values_list("action", "payload__reason"))
    assert actions == [("stop.halt", "drill"), ("stop.release", "drill over")]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: trading_halt(account_id=a.pk, actor=OPS, reason=" "), "reason: every stop"),
        (lambda a: trading_release(account_id=a.pk, actor=OPS, reason="x"), "is not stopped"),
        (
            lambda a: trading_pause_entries(account_id=a.pk, actor=OPS, reason="x", strategy="nope"),
            "no strategy .nope. on account",
        ),
        (lambda a: trading_pause_entries(account_id=a.pk, actor=OPS, reason="x", symbol="BTC/USDT"), "minutes:"),
    ],
)
def test_bad_stop_requests_are_refused_and_change_nothing(account, call, message):
    with pytest.raises(StopRefused, match=message):
        call(account)
    account.refresh_from_db()
    assert account.stop_level == StopLevel.NONE
    assert not AuditEvent.objects.filter(action__startswith="stop.").exists()


def test_the_command_drives_the_same_services(account, capsys):
    OrderFactory(account=account, status="submitted")
    call_command("trading_stop", "halt", "acct", "--reason", "cli drill")
    assert "cancelled 1 orders" in capsys.readouterr().out
    call_command("trading_stop", "release", "acct", "--reason", "cli drill over")
    call_command("trading_stop", "pause", "acct", "--symbol", "ETH/USDT", "--minutes", "5", "--reason", "x")
    with pytest.raises(CommandError, match="unknown market 'FOO/USDT'"):
        call_command("trading_stop", "pause", "acct", "--symbol", "FOO/USDT", "--minutes", "5", "--reason", "x")
    with pytest.raises(CommandError, match="unknown account"):
        call_command("trading_stop", "halt", "nope", "--reason", "x")
