"""Disaster recovery (OPS-002): a real drill. Back up the database, restore the backup into a
scratch database, and prove the copy is the original: row counts and a checksum per table,
and the audit chain verified by `verify_audit`, both read from the copy by a separate process,
as a recovered server would. RTO (restore until verified) and RPO (how far the newest restored
audit event lags the newest one committed when the backup completed) are measured and compared
with the criteria."""

import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

from compliance.models import AuditEvent
from validation.backup import DbTarget, backup_create, backup_restore
from validation.probe import manage, scratch_environment
from validation.probes import table_digests
from validation.validators import register
from validation.validators.base import BaseValidator, Context, Result, verdict

# Rows of these tables never change once written: a difference is always a defect. Other
# tables may legitimately change between the backup and the comparison on a live system.
IMMUTABLE = {"compliance_auditevent", "trading_fill", "compliance_signoff", "risk_configversion"}


def compare(restored: dict, source: dict) -> tuple[list[str], list[str]]:
    problems, warnings = [], []
    for table, copy in restored.items():
        original = source.get(table, {"rows": 0, "sha256": ""})
        kept, had = copy["rows"], original["rows"]
        if kept < had:
            problems.append(f"{table}: {had - kept} rows lost in the restore ({kept} of {had})")
        elif copy["sha256"] != original["sha256"]:
            checksums = f"{copy['sha256'][:12]} ≠ {original['sha256'][:12]}"
            message = f"{table}: restored rows differ from the source (checksum {checksums})"
            (problems if table in IMMUTABLE or copy["rows"] != original["rows"] else warnings).append(message)
    problems += [f"{table}: missing from the restored copy" for table in source if table not in restored]
    return problems, warnings


@register
class DisasterRecoveryValidator(BaseValidator):
    name = "disaster_recovery"
    check_id = "OPS-002"
    group = "operations"
    description = "Backup, restore into a scratch database, verify rows, checksums and audit chain; RTO and RPO"
    parallel_safe = False

    def after_restore(self, target: DbTarget) -> None:
        """Hook between the restore and the verification (tests plant a defect here)."""

    def measure(self, ctx: Context) -> Result:
        t = ctx.criteria.thresholds
        with tempfile.TemporaryDirectory(prefix="genesis-dr-") as tmp, scratch_environment() as (env, target):
            info = backup_create(dest_dir=Path(tmp))
            source_newest = AuditEvent.objects.order_by("-sequence").values_list("ts", flat=True).first()
            started = time.perf_counter()
            backup_restore(path=Path(info.path), target=target)
            restore_seconds = time.perf_counter() - started
            self.after_restore(target)
            probe = manage(["validation_probe", "digest", "--no-migrate"], env=env, timeout=600)
            chain = manage(["verify_audit", "--no-head"], env=env, timeout=600)
            rto = time.perf_counter() - started
        if probe.returncode != 0:
            return Result("failed", f"the restored copy cannot be read: {probe.stderr.strip()[-500:]}", {})
        copy = json.loads(probe.stdout.strip().splitlines()[-1])
        source = table_digests(max_pks={table: v["max_pk"] for table, v in copy["tables"].items()})
        problems, warnings = compare(copy["tables"], source)
        if chain.returncode != 0:
            problems.append(f"audit chain of the restored copy: {(chain.stderr or chain.stdout).strip()[-300:]}")
        restored_newest = datetime.fromisoformat(copy["newest_event"]) if copy["newest_event"] else None
        rpo = _rpo_seconds(source_newest, restored_newest)
        if rto > t.recovery_seconds:
            problems.append(f"RTO {rto:.1f} s exceeds {t.recovery_seconds:g} s")
        if rpo > t.rpo_seconds:
            problems.append(f"RPO {rpo:.1f} s exceeds {t.rpo_seconds:g} s")
        figures = {
            "backup_seconds": info.duration_seconds,
            "restore_seconds": round(restore_seconds, 3),
            "rto_seconds": round(rto, 3),
            "rpo_seconds": round(rpo, 3),
            "backup_bytes": info.size,
            "tables": len(copy["tables"]),
        }
        tables = {k: {"rows": v["rows"], "sha256": v["sha256"][:16]} for k, v in copy["tables"].items()}
        evidence = {"figures": figures, "engine": info.engine, "backup_sha256": info.sha256, "tables": tables}
        evidence["audit_chain"] = chain.stdout.strip()[-300:]
        ok = f"restored {len(tables)} tables identical, audit chain verifies; RTO {rto:.1f} s, RPO {rpo:.1f} s"
        return verdict(problems, warnings, ok, evidence)


def _rpo_seconds(source_newest: datetime | None, restored_newest: datetime | None) -> float:
    """Data lost by recovering from this backup: how much older the newest restored audit
    event is than the newest one committed when the backup completed (0 when it has all)."""
    if source_newest is None:
        return 0.0
    if restored_newest is None:
        return float("inf")
    return max(0.0, (source_newest - restored_newest).total_seconds())
