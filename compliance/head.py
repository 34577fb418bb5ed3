"""The exported audit chain head (SPEC C1): the latest sequence and hash, HMAC-signed and
written outside the database, and exported as a metric. A chain rewritten from the first row
with freshly computed hashes verifies internally, but no longer contains the exported head."""

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from prometheus_client import Gauge

from compliance.models import AuditChainHead

head_sequence = Gauge(
    "genesis_audit_head_sequence", "Sequence of the last exported audit chain head.", multiprocess_mode="max"
)


class HeadInvalid(Exception):
    """The exported head file is unreadable or its signature does not match."""


@dataclass(frozen=True)
class ExportedHead:
    sequence: int
    hash: str
    exported_at: str


def _key() -> bytes:
    key = settings.GENESIS_AUDIT_HEAD_KEY
    if not key:
        raise ImproperlyConfigured("GENESIS_AUDIT_HEAD_KEY must be set to sign the exported audit chain head")
    return key.encode()


def _signature(head: ExportedHead) -> str:
    message = f"{head.sequence}:{head.hash}:{head.exported_at}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def audit_head_export(*, path: Path | None = None) -> ExportedHead | None:
    """Write the current chain head, signed, atomically (temp file + rename) to `path`."""
    row = AuditChainHead.objects.filter(pk=1).first()
    if row is None:
        return None
    head = ExportedHead(sequence=row.sequence, hash=row.hash, exported_at=timezone.now().isoformat())
    path = path or settings.GENESIS_AUDIT_HEAD_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump({**asdict(head), "signature": _signature(head)}, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    head_sequence.set(head.sequence)
    return head


def audit_head_read(path: Path | None = None) -> ExportedHead | None:
    """The exported head, or None if none was exported yet. HeadInvalid if it was altered."""
    path = path or settings.GENESIS_AUDIT_HEAD_PATH
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        head = ExportedHead(
            sequence=int(data["sequence"]), hash=str(data["hash"]), exported_at=str(data["exported_at"])
        )
        signature = str(data["signature"])
    except (ValueError, KeyError, TypeError) as exc:
        raise HeadInvalid(f"{path}: unreadable exported head ({exc})") from None
    if not hmac.compare_digest(signature, _signature(head)):
        raise HeadInvalid(f"{path}: the exported head's signature does not match")
    return head
