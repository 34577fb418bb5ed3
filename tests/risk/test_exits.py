"""SPEC R4: stop loss, take profit and trailing stop, every tick, whatever the strategies say."""

from decimal import Decimal

import pytest

from compliance.models import AuditEvent
from compliance.services import Actor
from risk.exits import exit_reason
from risk.policy import RiskPolicy, default_policy_yaml
from risk.services import trading_pause_entries
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.feeds import ScenarioFeed
from trading.models import Order, Position
from trading.services.engine import engine_tick

D = Decimal
POLICY = RiskPolicy(stop_loss_pct=D("10"), take_profit_pct=D("12"), trailing_stop_pct=D("5"))


@pytest.mark.parametrize(
    ("mark", "hwm", "expected"),
    [
        ("90.00", "100", "stop_loss"),  # exactly -10 %
        ("90.01", "90.01", None),  # just above the stop, no high yet
        ("112.00", "112", "take_profit"),  # exactly +12 %
        ("104.50", "110", "trailing_stop"),  # 5 % below the 110 high
        ("104.51", "110", None),
    ],
)
def test_exit_rules_at_their_boundaries(mark, hwm, expected):
    reason = exit_reason(average_cost=D("100"), mark=D(mark), high_water_mark=D(hwm), policy=POLICY)
    assert (reason.split(":")[0] if reason else None) == expected


def test_a_zero_percentage_disables_its_rule():
    off = RiskPolicy(stop_loss_pct=D("0"), take_profit_pct=D("0"), trailing_stop_pct=D("0"))
    assert exit_reason(average_cost=D("100"), mark=D("1"), high_water_mark=D("1000"), policy=off) is None


def seeded_position(account, *, cost_factor: str, hwm_factor: str | None = None) -> Position:
    mark = ScenarioFeed(account.scenario, account.scenario_seed).candle("BTC/USDT", account.feed_cursor + 1).close
    cost = (mark * D(cost_factor)).quantize(D("0.01"))
    account.cash_balance -= cost * D("0.01")
    account.save()
    hwm = (mark * D(hwm_factor)).quantize(D("0.01")) if hwm_factor else None
    return Position.objects.create(
        account=account, symbol="BTC/USDT", quantity=D("0.01"), average_cost=cost, high_water_mark=hwm
    )


@pytest.mark.django_db
def test_while_entries_are_paused_a_stop_loss_still_closes_the_position():
    account = TradingAccountFactory()
    StrategyFactory(account=account)
    active_policy(account)
    seeded_position(account, cost_factor="1.25")  # mark is 20 % below cost
    trading_pause_entries(account_id=account.pk, actor=Actor("user", "ops"), reason="news")
    for _ in range(60):
        engine_tick(account_id=account.pk)
    sell = Order.objects.get()
    assert (sell.side, sell.status, sell.strategy) == ("sell", "filled", None)
    new_event = AuditEvent.objects.get(action="order.new", object_id=str(sell.pk))
    assert new_event.payload["reason"].startswith("stop_loss:")
    assert Position.objects.get().quantity == 0
    assert not Order.objects.filter(side="buy").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("policy", "cost", "hwm", "rule"),
    [
        ("", "0.80", None, "take_profit"),
        ("trailing_stop_pct: 5\n", "0.99", "1.20", "trailing_stop"),
    ],
)
def test_take_profit_and_trailing_stop_close_positions(policy, cost, hwm, rule):
    account = TradingAccountFactory()
    active_policy(account, content=default_policy_yaml() + policy)
    seeded_position(account, cost_factor=cost, hwm_factor=hwm)
    engine_tick(account_id=account.pk)
    sell = Order.objects.get()
    assert AuditEvent.objects.get(action="order.new", object_id=str(sell.pk)).payload["reason"].startswith(rule)


@pytest.mark.django_db
def test_the_high_water_mark_follows_the_mark_while_the_position_is_open():
    account = TradingAccountFactory()
    active_policy(account)
    position = seeded_position(account, cost_factor="1.0")
    highs = []
    for _ in range(30):
        engine_tick(account_id=account.pk)
        position.refresh_from_db()
        highs.append(position.high_water_mark)
    assert highs == sorted(highs) and highs[-1] >= position.mark_price
