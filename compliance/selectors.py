import hashlib
from dataclasses import dataclass

import orjson
from django.db import connection

from compliance.chain import GENESIS_HASH, HASHED_FIELDS, event_hash
from compliance.head import ExportedHead
from compliance.models import AuditChainHead, AuditEvent, SignOff

_FIELDS = (*HASHED_FIELDS, "hash")


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    first_broken_sequence: int | None = None
    reason: str = ""


def _chain_rows_sql(vendor: str, batch_size: int) -> str:
    """Every hashed field as the canonical form reads it, in sequence order, one keyset page:
    `ts` as isoformat(timespec="microseconds") of the UTC value and the payload as JSON text,
    so no per-row ORM conversion is paid."""
    meta = AuditEvent._meta
    column = {name: connection.ops.quote_name(meta.get_field(name).column) for name in _FIELDS}
    if vendor == "postgresql":
        ts = f"""to_char({column["ts"]} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
        payload = f"{column['payload']}::text"
    else:  # SQLite keeps UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        raw = column["ts"]
        ts = f"replace(substr({raw}, 1, 19), ' ', 'T') || '.' || substr({raw} || '.000000', 21, 6) || '+00:00'"
        payload = f"CAST({column['payload']} AS TEXT)"
    selected = ", ".join(ts if n == "ts" else payload if n == "payload" else column[n] for n in _FIELDS)
    table, order = connection.ops.quote_name(meta.db_table), column["sequence"]
    # Identifiers come from the model's metadata, quoted; the one value is a parameter.
    sql = f"SELECT {selected} FROM {table} WHERE {order} > %s ORDER BY {order} LIMIT {int(batch_size)}"  # noqa: S608 # nosec B608
    return sql


def _pages(sql: str):
    """The chain's keyset pages in sequence order."""
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [last])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _row_hash_exact(sequence: int) -> str:
    fields = dict(zip(_FIELDS, AuditEvent.objects.values_list(*_FIELDS).get(sequence=sequence), strict=True))
    fields.pop("hash")
    return event_hash(**fields)


def audit_chain_verify(*, anchor: ExportedHead | None = None, batch_size: int = 20000) -> ChainVerification:
    """Recompute every hash and link in sequence order; name the first broken sequence.
    With an exported head as `anchor`, the chain must also hold that exact event.

    Rows are read in keyset pages with a plain cursor and serialized by orjson, which
    writes the same bytes as `canonical` for every value the two encode alike; a row whose
    fast hash differs from the stored one is recomputed with `event_hash`, the definition,
    before it is called broken."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    sql = _chain_rows_sql(connection.vendor, batch_size)
    loads, dumps, sort_keys, sha256 = orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256
    for rows in _pages(sql):
        for seq, ts, actor_type, actor, action, object_type, object_id, payload, config, corr, prev, stored in rows:
            if seq != expected_seq:
                return ChainVerification(False, checked, expected_seq, f"sequence {expected_seq} is missing")
            if prev != expected_prev:
                return ChainVerification(False, checked, seq, "prev_hash does not match the previous event")
            fields = {
                "action": action,
                "actor": actor,
                "actor_type": actor_type,
                "config_hash": config,
                "correlation_id": corr,
                "object_id": object_id,
                "object_type": object_type,
                "payload": loads(payload),
                "prev_hash": prev,
                "sequence": seq,
                "ts": ts,
            }
            try:
                fast = sha256(dumps(fields, option=sort_keys)).hexdigest()
            except TypeError:  # a value orjson does not encode: the exact path decides
                fast = None
            if fast != stored and _row_hash_exact(seq) != stored:
                return ChainVerification(False, checked, seq, "content does not match its hash")
            if anchor and seq == anchor.sequence and stored != anchor.hash:
                return ChainVerification(False, checked, seq, "event does not match the exported chain head")
            expected_prev, expected_seq, checked = stored, seq + 1, checked + 1
    if anchor and checked < anchor.sequence:
        return ChainVerification(False, checked, checked + 1, f"chain ends before the exported head #{anchor.sequence}")
    head = AuditChainHead.objects.filter(pk=1).first()
    if head and (head.sequence != checked or head.hash != expected_prev):
        return ChainVerification(False, checked, checked + 1, "chain is shorter than its recorded head")
    return ChainVerification(True, checked)


def signoffs_current(*, account_id: int, subject: str, subject_ref: str, config_hash: str) -> dict[str, SignOff]:
    """The latest sign-off of each role for this subject and configuration: a later row
    supersedes an earlier one (a rejection can be followed by an approval, and back)."""
    current: dict[str, SignOff] = {}
    rows = SignOff.objects.filter(
        account_id=account_id, subject=subject, subject_ref=subject_ref, config_hash=config_hash
    ).order_by("signed_at", "pk")
    for row in rows:
        current[row.role] = row
    return current


def signoffs_missing(*, required_roles, **subject) -> list[str]:
    """Required roles whose current sign-off is not an approval."""
    current = signoffs_current(**subject)
    return [role for role in required_roles if role not in current or current[role].decision != "approve"]
