import gzip
import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from compliance import retention
from compliance.models import AuditEvent, Purge, RetentionPolicy
from compliance.retention import ArchiveInvalid, RetentionConflict, retention_apply, retention_restore
from compliance.selectors import audit_chain_verify
from compliance.services import Actor, audit_append
from compliance.tasks import retention_apply_task
from genesis_site.models import ErrorEvent
from tests.trading.factories import OrderFactory, TradingAccountFactory
from trading.models import Candle, EquitySnapshot, Fill, Order, Position

pytestmark = pytest.mark.django_db
MODELS = (Order, Fill, Position, EquitySnapshot, Candle, ErrorEvent)


@pytest.fixture(autouse=True)
def archive_dir(tmp_path):
    with override_settings(GENESIS_ARCHIVE_DIR=tmp_path):
        yield tmp_path


def days_ago(days: int):
    # microseconds included on purpose: they must survive the archive
    return timezone.now() - timedelta(days=days, microseconds=123457)


def order(account, status, updated_days_ago, **kw):
    row = OrderFactory(account=account, status=status, amount=Decimal("0.0123456789"), **kw)
    Order.objects.filter(pk=row.pk).update(updated_at=days_ago(updated_days_ago))
    return row


def fill(row, n, created_days_ago=400):
    return Fill.objects.create(
        order=row,
        account=row.account,
        symbol=row.symbol,
        side=row.side,
        amount=Decimal("0.0061728394"),
        price=Decimal("43210.1234567891"),
        fee=Decimal("0.0000012345"),
        fee_currency="USDT",
        exchange_trade_id=f"t-{row.pk}-{n}",
        created_at=days_ago(created_days_ago),
    )


def position(account, symbol, quantity, updated_days_ago):
    row = Position.objects.create(
        account=account,
        symbol=symbol,
        quantity=quantity,
        average_cost=Decimal("43210.1234567891"),
        realized_pnl=Decimal("-12.0000000001"),
        opened_at=days_ago(500),
    )
    Position.objects.filter(pk=row.pk).update(updated_at=days_ago(updated_days_ago))
    return row


def snapshot(account, age_days):
    value = Decimal("100000.0000000001")
    return EquitySnapshot.objects.create(
        account=account,
        ts=days_ago(age_days),
        equity=value,
        cash=value,
        positions_value=Decimal("0E-10"),
        realized_pnl=Decimal("0.5"),
        unrealized_pnl=Decimal("-0.25"),
    )


def error_event(age_days):
    return ErrorEvent.objects.create(
        ts=days_ago(age_days),
        level="error",
        category="exchange",
        severity="error",
        source="trading.services.engine",
        message=f"{age_days} days old",
        error_class="trading.exceptions.ExchangeUnavailable",
        hint="retry",
    )


def candle(age_days):
    price = Decimal("43210.5000000000")
    return Candle.objects.create(
        source="paper:bull",
        symbol="BTC/USDT",
        timeframe="1m",
        ts=days_ago(age_days),
        open=price,
        high=price,
        low=price,
        close=price,
        volume=Decimal("12.3456789012"),
    )


@pytest.fixture
def rows():
    """Expired rows (`purged`) next to every kind of row retention must keep (`kept`)."""
    account = TradingAccountFactory()
    old_filled, old_cancelled = order(account, "filled", 400), order(account, "cancelled", 400)
    old_open, recent_filled = order(account, "partially_filled", 400), order(account, "filled", 10)
    old_rejected, old_expired = order(account, "rejected", 366), order(account, "expired", 500)
    purged = {
        Order: {old_filled.pk, old_cancelled.pk, old_rejected.pk, old_expired.pk},
        Fill: {fill(old_filled, 1).pk, fill(old_filled, 2).pk, fill(old_expired, 1).pk},
        Position: {position(account, "ETH/USDT", Decimal("0"), 400).pk},
        EquitySnapshot: {snapshot(account, 91).pk, snapshot(account, 200).pk},
        Candle: {candle(91).pk},
        ErrorEvent: {error_event(31).pk},
    }
    kept = {
        Order: {old_open.pk, recent_filled.pk, order(account, "new", 400).pk, order(account, "submitted", 400).pk},
        # old fills whose orders are kept: an open one and a recent final one
        Fill: {fill(old_open, 1).pk, fill(recent_filled, 1).pk},
        Position: {
            position(account, "BTC/USDT", Decimal("0.5"), 400).pk,  # open, however old
            position(account, "SOL/USDT", Decimal("0"), 10).pk,  # closed recently
        },
        EquitySnapshot: {snapshot(account, 89).pk},
        Candle: {candle(10).pk},
        ErrorEvent: {error_event(29).pk},
    }
    return purged, kept


def pks(model):
    return set(model.objects.values_list("pk", flat=True))


def exact(model, ids):
    """Every field of every row, Decimals by their digits: Decimal('1.0') == Decimal('1.00')."""
    rows = model.objects.filter(pk__in=ids).order_by("pk").values()
    return [{k: (type(v).__name__, str(v)) for k, v in row.items()} for row in rows]


def by_type(outcomes):
    return {outcome.record_type: outcome for outcome in outcomes}


def test_a_purge_removes_exactly_the_expired_rows(rows):
    _, kept = rows
    outcomes = by_type(retention_apply())
    for model in MODELS:
        assert pks(model) == kept[model], model.__name__
    assert outcomes["orders"].status == "purged"
    assert outcomes["orders"].rows == {"trading.fill": 3, "trading.order": 4}
    assert outcomes["positions"].rows == {"trading.position": 1}
    assert outcomes["metrics"].rows == {"trading.equitysnapshot": 2, "trading.candle": 1}
    assert outcomes["error_logs"].rows == {"genesis_site.errorevent": 1}
    assert sorted(Purge.objects.values_list("record_type", flat=True)) == [
        "error_logs",
        "metrics",
        "orders",
        "positions",
    ]


def test_the_cutoff_follows_each_policy(rows):
    purged, kept = rows
    RetentionPolicy.objects.filter(record_type="metrics").update(keep_days=300)
    RetentionPolicy.objects.filter(record_type="orders").update(keep_days=450)
    outcomes = by_type(retention_apply())
    assert outcomes["metrics"].rows == {"trading.equitysnapshot": 0, "trading.candle": 0}
    assert outcomes["metrics"].status == "nothing_expired"
    assert outcomes["orders"].rows == {"trading.fill": 1, "trading.order": 1}  # only the 500-day-old one
    assert pks(EquitySnapshot) == purged[EquitySnapshot] | kept[EquitySnapshot]


def test_the_archive_is_checksummed_json_lines_in_deletion_order(rows, archive_dir):
    outcome = by_type(retention_apply())["orders"]
    archive = archive_dir / outcome.archive_path.rsplit("/", 1)[-1]
    assert archive.name.startswith("orders-") and archive.name.endswith(".jsonl.gz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert outcome.archive_sha256 == digest
    assert (archive_dir / f"{archive.name}.sha256").read_text() == f"{digest}  {archive.name}\n"
    lines = [json.loads(line) for line in gzip.open(archive, "rt")]
    assert [line["table"] for line in lines] == ["trading.fill"] * 3 + ["trading.order"] * 4
    first_fill = lines[0]["fields"]
    assert first_fill["price"] == "43210.1234567891"
    assert first_fill["order_id"] in rows[0][Order]
    assert first_fill["created_at"].endswith("+00:00") and "." in first_fill["created_at"]
    assert Purge.objects.get(record_type="orders").archive_sha256 == digest
    assert sorted(p.name for p in archive_dir.iterdir() if p.name.endswith(".tmp")) == []


def test_an_archive_restores_the_rows_exactly(rows):
    purged, _ = rows
    before = {model: exact(model, ids) for model, ids in purged.items()}
    outcomes = retention_apply()
    assert all(exact(model, ids) == [] for model, ids in purged.items())
    for outcome in outcomes:
        if outcome.status == "purged":
            retention_restore(path=outcome.archive_path)
    after = {model: exact(model, ids) for model, ids in purged.items()}
    assert after == before
    assert any("0.0123456789" in value for row in before[Order] for _, value in row.values())


def test_a_restored_archive_cannot_be_restored_twice(rows):
    outcome = by_type(retention_apply())["positions"]
    retention_restore(path=outcome.archive_path)
    events = AuditEvent.objects.count()
    with pytest.raises(RetentionConflict, match="already in the database"):
        retention_restore(path=outcome.archive_path)
    assert AuditEvent.objects.count() == events


def rewrite(path, edit):
    lines = [json.loads(line) for line in gzip.open(path, "rt")]
    edit(lines)
    with gzip.open(path, "wt") as out:
        out.writelines(json.dumps(line) + "\n" for line in lines)


def set_price(lines):
    lines[0]["fields"]["price"] = "1.0000000000"


def test_a_tampered_archive_is_refused_by_restore(rows, archive_dir):
    outcome = by_type(retention_apply())["orders"]
    rewrite(archive_dir / outcome.archive_path.rsplit("/", 1)[-1], set_price)
    events = AuditEvent.objects.count()
    with pytest.raises(ArchiveInvalid, match="checksum mismatch") as refused:
        retention_restore(path=outcome.archive_path)
    assert outcome.archive_path in str(refused.value)
    with pytest.raises(CommandError, match="checksum mismatch"):
        call_command("retention", "restore", outcome.archive_path)
    assert not Order.objects.filter(pk__in=rows[0][Order]).exists()
    assert AuditEvent.objects.count() == events


def test_an_archive_rewritten_with_its_checksum_file_is_refused(rows):
    outcome = by_type(retention_apply())["orders"]
    path = outcome.archive_path
    rewrite(path, set_price)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    with open(f"{path}.sha256", "w") as sidecar:
        sidecar.write(f"{digest}  x\n")
    with pytest.raises(ArchiveInvalid, match="recorded"):
        retention_restore(path=path)
    assert not Fill.objects.filter(pk__in=rows[0][Fill]).exists()


def test_an_archive_cannot_write_to_other_tables(tmp_path):
    path = tmp_path / "orders-forged.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write(json.dumps({"table": "compliance.auditevent", "fields": {"id": 1}}) + "\n")
    (tmp_path / "orders-forged.jsonl.gz.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(ArchiveInvalid, match="line 1: not a row of a table retention purges"):
        retention_restore(path=path)


def test_the_audit_chain_verifies_and_only_grows_by_the_purge_and_restore_events(rows):
    with transaction.atomic():
        for i in range(2):  # history before the purge, which must stay linked and intact
            audit_append(actor=Actor.system("tests"), action="test.event", payload={"i": i})
    events = AuditEvent.objects.count()
    outcomes = [o for o in retention_apply() if o.status == "purged"]
    assert AuditEvent.objects.count() == events + 4  # orders, positions, metrics, error logs
    purged = list(AuditEvent.objects.order_by("sequence"))[-4:]
    assert [e.action for e in purged] == ["retention.purged"] * 4
    orders = next(e for e in purged if e.payload["record_type"] == "orders")
    assert orders.payload["rows"] == {"trading.fill": 3, "trading.order": 4}
    assert orders.payload["archive_sha256"] == outcomes[0].archive_sha256
    assert orders.payload["archive_path"] == outcomes[0].archive_path
    assert orders.payload["cutoff"].startswith(outcomes[0].cutoff.date().isoformat())
    assert orders.object_type == "compliance.purge"
    assert audit_chain_verify().ok

    retention_restore(path=outcomes[0].archive_path)
    assert AuditEvent.objects.count() == events + 5
    restored = AuditEvent.objects.order_by("sequence").last()
    assert restored.action == "retention.restored"
    assert restored.payload["rows"] == {"trading.order": 4, "trading.fill": 3}
    assert restored.object_id == orders.object_id
    assert audit_chain_verify().ok
    assert audit_chain_verify().checked == events + 5


def test_the_dry_run_changes_nothing(rows, archive_dir):
    before = {model: pks(model) for model in MODELS}
    out = StringIO()
    call_command("retention", "apply", "--dry-run", stdout=out)
    assert {model: pks(model) for model in MODELS} == before
    assert list(archive_dir.iterdir()) == []
    assert not Purge.objects.exists() and not AuditEvent.objects.exists()
    text = out.getvalue()
    assert "orders: would purge 3 trading.fill, 4 trading.order older than" in text
    assert "metrics: would purge 2 trading.equitysnapshot, 1 trading.candle" in text
    assert "error_logs: would purge 1 genesis_site.errorevent older than" in text


def test_error_logs_older_than_30_days_are_archived_then_purged_and_audited(rows):
    _, kept = rows
    assert RetentionPolicy.objects.get(record_type="error_logs").keep_days == 30
    outcome = by_type(retention_apply())["error_logs"]
    assert (outcome.status, outcome.rows) == ("purged", {"genesis_site.errorevent": 1})
    assert pks(ErrorEvent) == kept[ErrorEvent]
    with gzip.open(outcome.archive_path, "rt") as archive:
        lines = [json.loads(line) for line in archive]
    assert [(line["table"], line["fields"]["message"]) for line in lines] == [
        ("genesis_site.errorevent", "31 days old")
    ]
    assert AuditEvent.objects.filter(payload__record_type="error_logs").count() == 1


def test_a_disabled_policy_is_skipped(rows):
    purged, _ = rows
    RetentionPolicy.objects.filter(record_type="positions").update(enabled=False)
    outcome = by_type(retention_apply())["positions"]
    assert (outcome.status, outcome.reason) == ("skipped", "policy disabled")
    assert purged[Position] <= pks(Position)


def test_nothing_is_deleted_when_archiving_fails(rows, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    before = {model: pks(model) for model in MODELS}
    with override_settings(GENESIS_ARCHIVE_DIR=not_a_dir / "archive"), pytest.raises(OSError):
        retention_apply()
    assert {model: pks(model) for model in MODELS} == before
    assert not Purge.objects.exists() and not AuditEvent.objects.exists()


def test_nothing_is_deleted_when_an_unserializable_value_fails_the_archive(rows, archive_dir, monkeypatch):
    def refuse(value):
        raise TypeError(f"{type(value).__name__} has no lossless archive form")

    monkeypatch.setattr(retention, "_encode", refuse)
    before = pks(Fill)
    with pytest.raises(TypeError):
        retention_apply()
    assert pks(Fill) == before
    assert list(archive_dir.iterdir()) == []


def test_rows_changed_after_archiving_are_not_deleted(rows, archive_dir, monkeypatch):
    purged, _ = rows
    touched = min(purged[Order])
    archive_write = retention._archive_write

    def archive_then_touch(path, selection):
        archived = archive_write(path, selection)
        if path.name.startswith("orders-"):
            Order.objects.filter(pk=touched).update(updated_at=timezone.now())  # e.g. a late correction
        return archived

    monkeypatch.setattr(retention, "_archive_write", archive_then_touch)
    outcome = by_type(retention_apply())["orders"]
    assert outcome.status == "not_purged"
    assert "1 archived trading.order rows changed" in outcome.reason
    assert purged[Order] <= pks(Order) and purged[Fill] <= pks(Fill)
    assert not Purge.objects.filter(record_type="orders").exists()
    assert not list(archive_dir.glob("orders-*"))


def test_a_fill_added_to_an_archived_order_stops_the_purge(rows, monkeypatch):
    purged, _ = rows
    archive_write = retention._archive_write

    def archive_then_fill(path, selection):
        archived = archive_write(path, selection)
        if path.name.startswith("orders-"):
            fill(Order.objects.get(pk=min(purged[Order])), 99)
        return archived

    monkeypatch.setattr(retention, "_archive_write", archive_then_fill)
    outcome = by_type(retention_apply())["orders"]
    assert outcome.status == "not_purged"
    assert purged[Order] <= pks(Order)


def test_the_command_purges_and_restores(rows, archive_dir):
    out = StringIO()
    call_command("retention", "apply", stdout=out)
    assert "orders: purged 3 trading.fill, 4 trading.order" in out.getvalue()
    archive = next(archive_dir.glob("positions-*.jsonl.gz"))
    out = StringIO()
    call_command("retention", "restore", str(archive), "--actor", "alice", stdout=out)
    assert f"restored 1 trading.position from {archive}" in out.getvalue()
    assert AuditEvent.objects.order_by("sequence").last().actor == "alice"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["restore", "nowhere.jsonl.gz"], "nowhere.jsonl.gz: no such archive file"),
        (["restore"], "file"),
        ([], "required: {apply,restore}"),
        (["purge"], "invalid choice"),
    ],
)
def test_the_command_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("retention", *args)


def test_a_restore_without_its_checksum_file_is_refused(rows, archive_dir):
    outcome = by_type(retention_apply())["orders"]
    (archive_dir / f"{outcome.archive_path.rsplit('/', 1)[-1]}.sha256").unlink()
    with pytest.raises(ArchiveInvalid, match=r"checksum file orders-.*\.sha256 is missing"):
        retention_restore(path=outcome.archive_path)


def test_the_celery_task_runs_the_service(rows):
    _, kept = rows
    retention_apply_task.delay()
    assert pks(Order) == kept[Order]
    assert Purge.objects.count() == 4
    entries = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    assert retention_apply_task.name in entries
