"""state_reads (the status's one statement for the latest snapshot, the open positions, the
active configuration version and the P&L bases) answers exactly what the ORM selectors answer,
on SQLite and PostgreSQL; the status built from it is the same as before, to the cent."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from compliance.services import Actor
from risk.policy import default_policy_yaml
from risk.selectors import config_version_active
from risk.services import config_version_activate, config_version_create
from tests.trading.factories import TradingAccountFactory
from trading.models import EquitySnapshot, Position
from trading.selectors import pnl_bases, pnl_summary, positions_open, state_reads
from trading.serializers import account_state

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 14, 30, 15, 250000, tzinfo=UTC)  # a Wednesday
SNAPSHOT_FIELDS = ("id", "ts", "equity", "cash", "positions_value", "realized_pnl", "unrealized_pnl")
POSITION_FIELDS = (
    "id",
    "symbol",
    "quantity",
    "average_cost",
    "realized_pnl",
    "mark_price",
    "high_water_mark",
    "dust",
    "opened_at",
    "updated_at",
)


def fields(obj, names) -> tuple | None:
    return None if obj is None else tuple(getattr(obj, name) for name in names)


def orm_reads(account) -> dict:
    version = config_version_active(account_id=account.pk)
    return {
        "snapshot": fields(EquitySnapshot.objects.filter(account=account).order_by("-ts").first(), SNAPSHOT_FIELDS),
        "positions": [fields(p, POSITION_FIELDS) for p in positions_open(account_id=account.pk)],
        "version": version and (version.version, version.sha256, version.created_at),
        "bases": pnl_bases(account=account, now=NOW),
    }


def one_statement(account) -> dict:
    reads = state_reads(account=account, now=NOW)
    version = reads.version
    return {
        "snapshot": fields(reads.snapshot, SNAPSHOT_FIELDS),
        "positions": [fields(p, POSITION_FIELDS) for p in reads.positions],
        "version": version and (version.version, version.sha256, version.created_at),
        "bases": reads.bases,
    }


def snapshot(account, ts, equity, **money):
    values = {"cash": 0, "positions_value": 0, "realized_pnl": 0, "unrealized_pnl": 0, **money}
    return EquitySnapshot.objects.create(account=account, ts=ts, equity=Decimal(equity), **values)


def test_an_account_with_nothing_yet():
    account = TradingAccountFactory(starting_balance=Decimal("2500.5"))
    reads = one_statement(account)
    assert reads == orm_reads(account)
    assert reads == {
        "snapshot": None,
        "positions": [],
        "version": None,
        "bases": {"today": Decimal("2500.5"), "week": Decimal("2500.5")},
    }


def test_a_busy_account_reads_the_same_through_one_statement():
    account, other = TradingAccountFactory(), TradingAccountFactory()
    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    snapshot(account, day - timedelta(days=3, seconds=1), "99876.1234567891")  # last week
    snapshot(account, day - timedelta(days=2), "100123.4567890123")  # Monday 00:00: the week's base
    snapshot(account, day, "100500.5")  # 00:00: the day's base
    snapshot(account, NOW - timedelta(minutes=5), "101000.25", cash="60000.1", positions_value="40999.9")
    snapshot(other, NOW, "1")  # newer, but another account's
    btc = Position.objects.create(
        account=account,
        symbol="BTC/USDT",
        quantity=Decimal("0.5"),
        average_cost=Decimal("60000.12"),
        mark_price=Decimal("61000.5"),
        high_water_mark=Decimal("62000"),
        realized_pnl=Decimal("-12.3456789"),
        opened_at=NOW - timedelta(hours=2),
    )
    Position.objects.create(account=account, symbol="ADA/USDT", quantity=Decimal("10"), average_cost=Decimal("0.4"))
    Position.objects.create(account=account, symbol="ETH/USDT", quantity=Decimal("0.00001"), dust=True)  # closed
    Position.objects.create(account=account, symbol="SOL/USDT")  # quantity 0: closed
    Position.objects.create(account=other, symbol="BTC/USDT", quantity=1)
    actor = Actor.system("test")
    for target in (account, other):
        first = config_version_create(
            account=target, content=default_policy_yaml(), author=None, reason="r", actor=actor
        )
        config_version_activate(version=first, actor=actor, reason="r")
    second = config_version_create(
        account=account, content=default_policy_yaml() + "\n# second\n", author=None, reason="r", actor=actor
    )
    config_version_activate(version=second, actor=actor, reason="r")

    reads = one_statement(account)
    assert reads == orm_reads(account)
    assert [p[1] for p in reads["positions"]] == ["ADA/USDT", "BTC/USDT"]
    assert reads["positions"][1] == fields(Position.objects.get(pk=btc.pk), POSITION_FIELDS)
    assert reads["snapshot"][2:4] == (Decimal("101000.25"), Decimal("60000.1"))
    assert reads["version"][:2] == (second.version, second.sha256)
    assert reads["bases"]["today"] == Decimal("100500.5")
    assert reads["bases"]["week"].quantize(Decimal("0.000001")) == Decimal("100123.456789")


def test_the_status_from_one_statement_is_the_status_from_the_orm():
    account = TradingAccountFactory(starting_balance=Decimal("100000"), cash_balance=Decimal("69499.75"))
    snapshot(account, NOW - timedelta(days=1), "99000")
    snapshot(account, NOW - timedelta(seconds=5), "100010.5")
    Position.objects.create(
        account=account,
        symbol="BTC/USDT",
        quantity=Decimal("0.5"),
        average_cost=Decimal("61000"),
        mark_price=Decimal("61021.5"),
    )
    state = account_state(account=account)
    equity = Decimal("100010.5")
    pnl = pnl_summary(account=account, equity=equity)
    assert state["equity"] == "100010.5"
    assert state["pnl"] == {k: format(v.normalize(), "f") if v else "0" for k, v in pnl.items()}
    assert state["exposure_pct"] == "30.51"  # 30,510.75 of 100,010.5
    assert state["positions"] == [
        {
            "symbol": "BTC/USDT",
            "quantity": "0.5",
            "average_cost": "61000",
            "mark_price": "61021.5",
            "market_value": "30510.75",
            "unrealized_pnl": "10.75",
            "realized_pnl": "0",
        }
    ]
    assert state["config"] is None


def test_the_visible_account_is_what_the_orm_rule_answers_for_each_kind_of_user():
    from django.contrib.auth.models import AnonymousUser

    from tests.genesis_site.factories import UserFactory
    from trading.selectors import account_visible_get, accounts_visible_to

    member, stranger = UserFactory(), UserFactory()
    admin = UserFactory(is_superuser=True)
    mine = TradingAccountFactory(members=[member], cash_balance=Decimal("123.4500000001"))
    theirs = TradingAccountFactory()
    for user in (member, stranger, admin, member, admin):  # twice: the second runs the kept statement
        for account_id in (mine.pk, theirs.pk, theirs.pk + 1000):
            got = account_visible_get(user=user, account_id=account_id)
            expected = accounts_visible_to(user).filter(pk=account_id).first()
            assert got == expected
            if got is not None:
                assert [getattr(got, f.attname) for f in got._meta.concrete_fields] == [
                    getattr(expected, f.attname) for f in expected._meta.concrete_fields
                ]
    assert account_visible_get(user=member, account_id=mine.pk).cash_balance == Decimal("123.4500000001")
    assert account_visible_get(user=stranger, account_id=mine.pk) is None
    assert account_visible_get(user=admin, account_id=theirs.pk) == theirs
    assert account_visible_get(user=AnonymousUser(), account_id=mine.pk) is None
