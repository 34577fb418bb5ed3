"""manage.py backup / restore (SPEC M5) and the disaster-recovery drill (OPS-002)."""

import os
import sqlite3
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from compliance.services import Actor, audit_append
from tests.trading.factories import OrderFactory, TradingAccountFactory
from tests.validation.conftest import make_ctx
from validation.backup import POSTGRES, DbTarget, backup_create, backup_restore, pg_database_create, pg_database_drop
from validation.exceptions import BackupError
from validation.validators.dr import DisasterRecoveryValidator


def _seed():
    account = TradingAccountFactory()
    OrderFactory.create_batch(3, account=account)
    for i in range(4):
        with transaction.atomic():
            audit_append(actor=Actor.system("t"), action="test.event", obj=account, payload={"i": i})
    return account


def _sqlite_counts(path):
    with sqlite3.connect(path) as db:
        return {
            t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for t in ("trading_order", "compliance_auditevent", "trading_tradingaccount")
        }


@pytest.mark.django_db(transaction=True)
def test_sqlite_backup_restores_with_every_row(tmp_path, settings):
    if DbTarget.from_settings().engine == POSTGRES:
        pytest.skip("SQLite round trip; the PostgreSQL one is below")
    _seed()
    info = backup_create(dest_dir=tmp_path)
    assert info.engine == "sqlite" and len(info.sha256) == 64
    target = tmp_path / "restored.sqlite3"
    backup_restore(path=info.path, target=DbTarget("sqlite", str(target)))
    assert _sqlite_counts(target) == {"trading_order": 3, "compliance_auditevent": 4, "trading_tradingaccount": 1}


@pytest.mark.django_db(transaction=True)
def test_a_corrupt_backup_is_refused_with_a_clear_message(tmp_path):
    _seed()
    info = backup_create(dest_dir=tmp_path)
    with open(info.path, "r+b") as f:
        f.seek(os.path.getsize(info.path) // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    target = tmp_path / "never.sqlite3"
    with pytest.raises(BackupError, match=r"corrupt or was altered: SHA-256 .* does not match"):
        backup_restore(path=info.path, target=DbTarget(info.engine, str(target)))
    assert not target.exists()
    with pytest.raises(CommandError, match="refusing to restore"):
        call_command("restore", info.path, "--sqlite-file", str(target))


@pytest.mark.django_db(transaction=True)
def test_a_backup_without_its_manifest_or_for_another_engine_is_refused(tmp_path):
    info = backup_create(dest_dir=tmp_path)
    other = "postgresql" if info.engine == "sqlite" else "sqlite"
    with pytest.raises(BackupError, match=f"is a {info.engine} backup; the target is {other}"):
        backup_restore(path=info.path, target=DbTarget(other, "x"))
    os.remove(info.path + ".json")
    with pytest.raises(BackupError, match="has no manifest"):
        backup_restore(path=info.path, target=DbTarget(info.engine, "x"))


@pytest.mark.django_db(transaction=True)
def test_restore_into_the_configured_database_needs_confirmation(tmp_path):
    info = backup_create(dest_dir=tmp_path)
    with pytest.raises(CommandError, match="pass --yes to confirm"):
        call_command("restore", info.path)
    call_command("restore", info.path, "--verify-only")


@pytest.mark.django_db(transaction=True)
def test_the_dr_drill_passes_and_measures_rto_and_rpo(loaded):
    _seed()
    result = DisasterRecoveryValidator().run(make_ctx(loaded))
    assert result.status == "passed", result.details
    figures = result.evidence["figures"]
    assert figures["rpo_seconds"] == 0 and 0 < figures["rto_seconds"] < 300
    assert result.evidence["tables"]["trading_order"]["rows"] == 3
    assert "audit chain ok: 4 events" in result.evidence["audit_chain"]


def _execute_on(target, *statements):
    """Plant a defect in the restored copy, as its owner could."""
    if target.engine == POSTGRES:
        import psycopg

        with psycopg.connect(target.url().replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
            for sql in statements:
                conn.execute(sql)
    else:
        with sqlite3.connect(target.name) as db:
            for sql in statements:
                db.execute(sql)


class _LossyRestore(DisasterRecoveryValidator):
    def after_restore(self, target):
        _execute_on(target, "DELETE FROM trading_order WHERE id = (SELECT min(id) FROM trading_order)")


class _TamperedRestore(DisasterRecoveryValidator):
    def after_restore(self, target):
        _execute_on(target, "UPDATE compliance_auditevent SET action = 'forged' WHERE sequence = 3")


@pytest.mark.django_db(transaction=True)
def test_the_dr_drill_fails_a_restore_that_loses_rows(loaded):
    _seed()
    result = _LossyRestore().run(make_ctx(loaded))
    assert result.status == "failed"
    assert "trading_order: 1 rows lost in the restore (2 of 3)" in result.details


@pytest.mark.django_db(transaction=True)
def test_the_dr_drill_fails_a_restored_copy_whose_audit_chain_differs(loaded):
    _seed()
    result = _TamperedRestore().run(make_ctx(loaded))
    assert result.status == "failed"
    assert "compliance_auditevent: restored rows differ" in result.details
    assert "audit chain broken at sequence 3" in result.details


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_backup_restores_into_a_scratch_database(tmp_path):
    _seed()
    info = backup_create(dest_dir=tmp_path)
    assert info.engine == "postgresql"
    configured = DbTarget.from_settings()
    scratch = DbTarget(
        POSTGRES,
        f"genesis_validation_{uuid.uuid4().hex[:8]}",
        configured.host,
        configured.port,
        configured.user,
        configured.password,
    )
    pg_database_create(scratch)
    try:
        backup_restore(path=info.path, target=scratch)
        import psycopg

        with psycopg.connect(scratch.url().replace("postgres://", "postgresql://")) as conn:
            assert conn.execute("SELECT count(*) FROM trading_order").fetchone()[0] == 3
            assert conn.execute("SELECT count(*) FROM compliance_auditevent").fetchone()[0] == 4
    finally:
        pg_database_drop(scratch)
