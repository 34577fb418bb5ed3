"""Canonical serialization and hashing of audit events: pure functions, no database."""

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

GENESIS_HASH = "0" * 64
# Every field of an audit event that its hash covers, in the order of `event_hash`'s arguments.
HASHED_FIELDS = (
    "sequence",
    "ts",
    "actor_type",
    "actor",
    "action",
    "object_type",
    "object_id",
    "payload",
    "config_hash",
    "correlation_id",
    "prev_hash",
)


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"{type(value).__name__} is not allowed in an audit payload")


def json_safe(payload: dict) -> dict:
    """The payload as it will read back from the database: Decimals and datetimes as strings."""
    return json.loads(json.dumps(payload, default=_json_default))


def canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()


def event_hash(
    *,
    sequence: int,
    ts: datetime,
    actor_type: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: dict,
    config_hash: str,
    correlation_id: str,
    prev_hash: str,
) -> str:
    fields = {
        "sequence": sequence,
        "ts": ts.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_type": actor_type,
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "payload": payload,
        "config_hash": config_hash,
        "correlation_id": correlation_id,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(fields)).hexdigest()
