from dataclasses import dataclass

from compliance.chain import GENESIS_HASH, event_hash
from compliance.models import AuditChainHead, AuditEvent

_FIELDS = (
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
    "hash",
)


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    first_broken_sequence: int | None = None
    reason: str = ""


def audit_chain_verify(*, batch_size: int = 5000) -> ChainVerification:
    """Recompute every hash and link in sequence order; name the first broken sequence."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    rows = AuditEvent.objects.order_by("sequence").values_list(*_FIELDS).iterator(chunk_size=batch_size)
    for row in rows:
        fields = dict(zip(_FIELDS, row, strict=True))
        stored_hash = fields.pop("hash")
        seq = fields["sequence"]
        if seq != expected_seq:
            return ChainVerification(False, checked, expected_seq, f"sequence {expected_seq} is missing")
        if fields["prev_hash"] != expected_prev:
            return ChainVerification(False, checked, seq, "prev_hash does not match the previous event")
        if event_hash(**fields) != stored_hash:
            return ChainVerification(False, checked, seq, "content does not match its hash")
        expected_prev, expected_seq, checked = stored_hash, seq + 1, checked + 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head and (head.sequence != checked or head.hash != expected_prev):
        return ChainVerification(False, checked, checked + 1, "chain is shorter than its recorded head")
    return ChainVerification(True, checked)
