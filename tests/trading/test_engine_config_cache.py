"""The engine keeps each account's strategies, universe and active policy per process while
the account row's config_token is unchanged (trading migration 0015_tick_config_token: database triggers change
it on every write to those tables). A change made by anyone -- a service, a queryset update,
raw SQL, another process -- must take effect on the very next tick; stop levels, breakers and
symbol locks are read every tick. And a standard tick stays within its query budget."""

import subprocess
import sys
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import AuditEvent
from compliance.services import Actor
from risk.models import SymbolLock
from risk.policy import default_policy_yaml
from risk.services import config_version_activate, config_version_create, trading_halt, trading_pause_entries
from tests.risk.factories import UNPACED, unpaced_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import Order, Strategy, TradingAccount, Universe
from trading.services.engine import account_config, engine_tick

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")
EAGER = {"fast": 2, "slow": 3, "entry_threshold": 0}  # crosses every few candles: buys often
CONFIG_TABLES = ("trading_strategy", "trading_universe", "risk_configversion")


def eager_account(**kwargs):
    account = TradingAccountFactory(scenario="sideways", **kwargs)
    StrategyFactory(account=account, name="eager", params=EAGER)
    unpaced_policy(account)
    return account


def tick_until_buy(account, limit=100):
    for _ in range(limit):
        result = engine_tick(account_id=account.pk)
        if any(o.side == "buy" for o in result.orders):
            return result
    raise AssertionError(f"no buy within {limit} ticks")


def buys_in(account, ticks):
    return sum(1 for _ in range(ticks) for o in engine_tick(account_id=account.pk).orders if o.side == "buy")


def cached(account):
    """What the engine holds for the account, through the same entry point as a tick."""
    return account_config(TradingAccount.objects.get(pk=account.pk))


def raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_write_to_any_config_table_changes_the_token_whoever_makes_it():
    account = eager_account()
    strategy = Strategy.objects.get(account=account)
    seen = {TradingAccount.objects.get(pk=account.pk).config_token}

    def changed():
        token = TradingAccount.objects.get(pk=account.pk).config_token
        assert token not in seen
        seen.add(token)

    Strategy.objects.filter(pk=strategy.pk).update(risk_budget=Decimal("0.01"))  # no save(), no signal
    changed()
    raw("UPDATE trading_strategy SET params = %s WHERE id = %s", ('{"fast": 3, "slow": 9}', strategy.pk))
    changed()
    Universe.objects.create(account=account, members={"BTC/USDT": "hunter"})
    changed()
    raw("UPDATE trading_universe SET max_spread_bps = 10 WHERE account_id = %s", (account.pk,))
    changed()
    raw("DELETE FROM trading_universe WHERE account_id = %s", (account.pk,))
    changed()
    version = config_version_create(account=account, content=default_policy_yaml(), author=None, reason="r", actor=OPS)
    changed()
    config_version_activate(version=version, actor=OPS, reason="r")
    changed()
    StrategyFactory(account=account)
    changed()
    Strategy.objects.filter(pk=strategy.pk).delete()
    changed()
    other = TradingAccountFactory()
    StrategyFactory(account=other)  # another account's config leaves this one's token alone
    assert TradingAccount.objects.get(pk=account.pk).config_token in seen


def test_the_config_is_read_once_and_kept_while_the_token_is_unchanged():
    account = eager_account()
    engine_tick(account_id=account.pk)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            engine_tick(account_id=account.pk)
    read = [q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in CONFIG_TABLES)]
    assert read == []


def test_a_strategy_paused_by_raw_sql_stops_buying_on_the_next_tick():
    account = eager_account()
    tick_until_buy(account)  # the config is cached now
    raw("UPDATE trading_strategy SET state = 'paused' WHERE account_id = %s", (account.pk,))
    assert [s.state for s in cached(account).strategies] == ["paused"]
    assert buys_in(account, 40) == 0


def test_a_strategy_paused_through_the_service_stops_buying_on_the_next_tick():
    account = eager_account()
    tick_until_buy(account)
    trading_pause_entries(account_id=account.pk, actor=OPS, reason="test", strategy="eager")
    assert buys_in(account, 40) == 0


def test_a_disabled_added_or_deleted_strategy_is_seen_on_the_next_tick():
    account = eager_account()
    tick_until_buy(account)
    Strategy.objects.filter(account=account).update(enabled=False)
    assert cached(account).strategies == ()
    assert buys_in(account, 40) == 0
    added = StrategyFactory(account=account, name="second", params=EAGER)
    assert [s.pk for s in cached(account).strategies] == [added.pk]
    tick_until_buy(account)
    added.delete()
    assert cached(account).strategies == ()


def test_a_config_activation_governs_the_very_next_tick():
    account = eager_account()
    first = engine_tick(account_id=account.pk)
    version = config_version_create(
        account=account,
        content=default_policy_yaml() + UNPACED + "max_position_pct: 1\n",
        author=None,
        reason="smaller positions",
        actor=OPS,
    )
    config_version_activate(version=version, actor=OPS, reason="smaller positions")
    result = engine_tick(account_id=account.pk)
    assert first.state.version.pk != version.pk
    assert result.state.version.pk == version.pk
    assert cached(account).policy.max_position_pct == Decimal("1")
    buy = next(o for o in tick_until_buy(account).orders if o.side == "buy")
    event = AuditEvent.objects.get(action="order.new", object_type="trading.order", object_id=str(buy.pk))
    assert event.config_hash == version.sha256
    assert buy.amount * buy.average_price <= Decimal("100000") * Decimal("0.0101")


def test_a_universe_change_is_seen_on_the_next_tick():
    account = eager_account()
    tick_until_buy(account)
    # BTC/USDT outside the universe: no entries.
    Universe.objects.create(account=account, members={"ETH/USDT": "hunter"})
    assert cached(account).universe.members == {"ETH/USDT": "hunter"}
    assert buys_in(account, 40) == 0
    raw("DELETE FROM trading_universe WHERE account_id = %s", (account.pk,))
    assert cached(account).universe is None
    tick_until_buy(account)


def test_a_halt_and_a_symbol_lock_take_effect_on_the_next_tick_of_a_cached_account():
    account = eager_account()
    tick_until_buy(account)
    SymbolLock.objects.create(
        account=account, symbol="BTC/USDT", until="2999-01-01T00:00:00Z", reason="test", created_by="ops"
    )
    assert buys_in(account, 40) == 0
    SymbolLock.objects.all().delete()
    tick_until_buy(account)
    trading_halt(account_id=account.pk, actor=OPS, reason="incident")
    assert buys_in(account, 40) == 0


def test_a_full_save_of_an_account_read_before_a_pause_does_not_bring_the_old_token_back():
    account = eager_account()
    tick_until_buy(account)  # cached under the current token
    stale = TradingAccount.objects.get(pk=account.pk)
    raw("UPDATE trading_strategy SET state = 'paused' WHERE account_id = %s", (account.pk,))
    stale.name = "renamed"
    stale.save()  # every column, the token read before the pause included
    assert TradingAccount.objects.get(pk=account.pk).config_token != stale.config_token
    assert [s.state for s in cached(account).strategies] == ["paused"]
    assert buys_in(account, 40) == 0


def test_a_new_account_never_gets_the_config_of_a_deleted_one_with_the_same_pk():
    account = eager_account()
    engine_tick(account_id=account.pk)
    pk = account.pk
    Order.objects.filter(account=account).delete()
    account.delete()
    reborn = TradingAccountFactory(pk=pk, scenario="sideways")
    assert cached(reborn).strategies == ()
    assert cached(reborn).version is None


def test_a_standard_tick_stays_within_its_query_budget():
    """One symbol, three strategies, an active policy: the bench's tick (bench/engine.py).
    The fixed statements of a tick: account lock, candle and ticker inserts, positions, P&L
    bases, breakers, symbol locks and pacing (one statement), position mark, snapshot, account
    update and the error-budget count; plus the savepoint pair of the test's transaction."""
    account = TradingAccountFactory(scenario="sideways", feed_cursor=300)
    for kind, params in (("ma_crossover", {"fast": 5, "slow": 20}), ("mean_reversion", {}), ("breakout", {})):
        StrategyFactory(account=account, name=kind, kind=kind, params=params, risk_budget=Decimal("0.02"))
    unpaced_policy(account)
    for _ in range(3):
        engine_tick(account_id=account.pk)
    quiet = []
    for _ in range(30):
        with CaptureQueriesContext(connection) as queries:
            result = engine_tick(account_id=account.pk)
        if not result.orders and not result.refusals:
            quiet.append(len(queries.captured_queries))
    assert quiet, "no tick without an order in 30"
    assert max(quiet) <= 11  # 20 before the config cache and the combined reads


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pause_committed_by_another_process_stops_buying_on_the_next_tick():
    """The writer is another OS process with its own connection: nothing in this process
    hears of the change but the token in the account row."""
    account = eager_account()
    tick_until_buy(account)
    settings = connection.settings_dict
    conninfo = psycopg.conninfo.make_conninfo(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"],
    )
    script = (
        "import sys, psycopg\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
        "    c.execute(\"UPDATE trading_strategy SET state = 'paused' WHERE account_id = %s\", (int(sys.argv[2]),))\n"
    )
    subprocess.run([sys.executable, "-c", script, conninfo, str(account.pk)], check=True, timeout=60)
    assert buys_in(account, 40) == 0
    raw("UPDATE trading_strategy SET state = 'active' WHERE account_id = %s", (account.pk,))
    tick_until_buy(account)
