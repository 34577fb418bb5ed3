"""genesis_site.bulk writes the rows the ORM would write, on SQLite and PostgreSQL: the same
values (to the last decimal place), primary keys back, conflicts skipped, only the named
fields updated, and a missing row refused."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

import genesis_site.bulk as bulk
from genesis_site.bulk import row_save, row_update, rows_insert
from tests.trading.factories import TradingAccountFactory
from trading.models import Candle, EquitySnapshot, Position, Ticker

pytestmark = pytest.mark.django_db
TS = datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=UTC)


def ticker(ts, last="60000.12345678"):
    return Ticker(
        source="s",
        symbol="BTC/USDT",
        ts=ts,
        bid=Decimal("59999.5"),
        ask=Decimal("60000.5"),
        last=Decimal(last),
        base_volume=Decimal("12.345"),
    )


def test_inserted_rows_get_their_keys_and_read_back_as_the_orm_writes_them():
    account = TradingAccountFactory()
    ours = [
        EquitySnapshot(
            account=account,
            ts=TS + timedelta(seconds=i),
            equity=Decimal("100000.000001") + i,
            cash=Decimal("99999.99"),
            positions_value=Decimal("0.01"),
            realized_pnl=Decimal("-1.2345678901"),
            unrealized_pnl=Decimal("0"),
        )
        for i in range(3)
    ]
    rows_insert(EquitySnapshot, ours)
    assert all(s.pk is not None and not s._state.adding for s in ours)
    theirs = EquitySnapshot.objects.create(
        account=account,
        ts=TS,
        equity=Decimal("100000.000001"),
        cash=Decimal("99999.99"),
        positions_value=Decimal("0.01"),
        realized_pnl=Decimal("-1.2345678901"),
        unrealized_pnl=Decimal("0"),
    )
    fields = ("account_id", "ts", "equity", "cash", "positions_value", "realized_pnl", "unrealized_pnl")
    stored = {s["id"]: s for s in EquitySnapshot.objects.values("id", *fields)}
    assert {k: stored[ours[0].pk][k] for k in fields} == {k: stored[theirs.pk][k] for k in fields}
    assert stored[ours[2].pk]["equity"] == Decimal("100002.000001")  # SQLite keeps 15 digits
    assert stored[ours[1].pk]["ts"] == TS + timedelta(seconds=1)  # microseconds kept


def test_a_conflicting_row_is_skipped_and_the_others_inserted():
    rows_insert(Ticker, [ticker(TS)], ignore_conflicts=True)
    rows_insert(Ticker, [ticker(TS, last="1"), ticker(TS + timedelta(minutes=1))], ignore_conflicts=True)
    assert Ticker.objects.count() == 2
    assert Ticker.objects.get(ts=TS).last == Decimal("60000.12345678")  # the first one stays
    rows_insert(Candle, [], ignore_conflicts=True)  # nothing to do, no statement


def test_without_keys_a_large_batch_is_copied_on_postgresql_and_stores_the_same(monkeypatch):
    monkeypatch.setattr(bulk, "COPY_FROM", 3)
    rows = [ticker(TS + timedelta(minutes=i), last=f"{60000 + i}.5") for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        rows_insert(Ticker, rows, keys=False)
    sql = queries.captured_queries[-1]["sql"]
    assert sql.startswith("COPY") if connection.vendor == "postgresql" else sql.startswith("INSERT")
    assert list(Ticker.objects.order_by("ts").values_list("last", flat=True)) == [
        Decimal(f"{60000 + i}.5") for i in range(5)
    ]


def test_a_row_that_already_has_a_key_is_refused():
    account = TradingAccountFactory()
    position = Position.objects.create(account=account, symbol="BTC/USDT")
    with pytest.raises(ValueError, match="must not have a primary key"):
        rows_insert(Position, [position])


def test_row_update_writes_only_the_named_fields():
    account = TradingAccountFactory()
    position = Position.objects.create(account=account, symbol="BTC/USDT", quantity=Decimal("1"))
    Position.objects.filter(pk=position.pk).update(quantity=Decimal("2"))  # another writer
    position.mark_price, position.high_water_mark = Decimal("61000.5"), Decimal("61500.25")
    row_update(position, ["mark_price", "high_water_mark"])
    stored = Position.objects.get(pk=position.pk)
    assert (stored.mark_price, stored.high_water_mark, stored.quantity) == (
        Decimal("61000.5"),
        Decimal("61500.25"),
        Decimal("2"),
    )


def test_row_save_inserts_then_updates_every_field_as_save_does():
    account = TradingAccountFactory()
    position = Position(account=account, symbol="ETH/USDT", quantity=Decimal("0.5"), average_cost=Decimal("3000.1"))
    row_save(position)
    assert position.pk is not None
    first = Position.objects.get(pk=position.pk).updated_at
    position.quantity, position.realized_pnl = Decimal("0.25"), Decimal("-12.3456789012")
    row_save(position)
    stored = Position.objects.get(pk=position.pk)
    assert (stored.quantity, stored.realized_pnl, stored.average_cost) == (
        Decimal("0.25"),
        Decimal("-12.3456789012"),
        Decimal("3000.1"),
    )
    assert stored.updated_at >= first  # auto_now moves, as on save()


def test_updating_a_row_that_is_gone_raises():
    account = TradingAccountFactory()
    position = Position.objects.create(account=account, symbol="BTC/USDT")
    Position.objects.filter(pk=position.pk).delete()
    with pytest.raises(DatabaseError, match="no row to update"):
        row_update(position, ["quantity"])


def test_a_large_batch_that_needs_its_keys_gets_them(monkeypatch):
    monkeypatch.setattr(bulk, "COPY_FROM", 3)
    account = TradingAccountFactory()
    zero = {"cash": 0, "positions_value": 0, "realized_pnl": 0, "unrealized_pnl": 0}
    rows = [EquitySnapshot(account=account, ts=TS, equity=Decimal(i), **zero) for i in range(5)]
    rows_insert(EquitySnapshot, rows)
    assert [EquitySnapshot.objects.get(pk=r.pk).equity for r in rows] == [Decimal(i) for i in range(5)]
