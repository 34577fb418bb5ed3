from dataclasses import dataclass

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


def audit_chain_verify(*, anchor: ExportedHead | None = None, batch_size: int = 5000) -> ChainVerification:
    """Recompute every hash and link in sequence order; name the first broken sequence.
    With an exported head as `anchor`, the chain must also hold that exact event."""
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
        if anchor and seq == anchor.sequence and stored_hash != anchor.hash:
            return ChainVerification(False, checked, seq, "event does not match the exported chain head")
        expected_prev, expected_seq, checked = stored_hash, seq + 1, checked + 1
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
