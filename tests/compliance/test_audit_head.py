import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from compliance.chain import GENESIS_HASH, HASHED_FIELDS, event_hash
from compliance.head import HeadInvalid, audit_head_export, audit_head_read
from compliance.models import AuditChainHead, AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor, audit_append
from tests.compliance.tamper import as_table_owner

pytestmark = pytest.mark.django_db


@pytest.fixture
def head_path(tmp_path):
    path = tmp_path / "audit_head.json"
    with override_settings(GENESIS_AUDIT_HEAD_PATH=path):
        yield path


def append(n: int) -> None:
    with transaction.atomic():
        for i in range(n):
            audit_append(actor=Actor.system("tests"), action="test.event", payload={"i": i})


def rewrite_whole_chain(changed_sequence: int) -> None:
    """What an owner with full table access could do: change one event and recompute every
    hash after it, so that the chain verifies on its own."""
    as_table_owner("SELECT 1")  # disables the triggers for the rest of the test transaction
    prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("sequence"):
        fields = {f: getattr(event, f) for f in HASHED_FIELDS}
        if event.sequence == changed_sequence:
            fields["payload"] = {"i": 999}
        fields["prev_hash"] = prev
        new_hash = event_hash(**fields)
        AuditEvent.objects.filter(pk=event.pk).update(payload=fields["payload"], prev_hash=prev, hash=new_hash)
        prev = new_hash
    AuditChainHead.objects.filter(pk=1).update(hash=prev)


def test_the_exported_head_is_signed_and_read_back(head_path):
    append(4)
    exported = audit_head_export()
    assert exported.sequence == 4 and audit_head_read() == exported


def test_a_whole_chain_rewrite_verifies_alone_but_not_against_the_exported_head(head_path):
    append(5)
    audit_head_export()
    rewrite_whole_chain(changed_sequence=2)
    assert audit_chain_verify().ok  # internally consistent
    result = audit_chain_verify(anchor=audit_head_read())
    assert (result.ok, result.first_broken_sequence) == (False, 5)
    assert "exported chain head" in result.reason
    with pytest.raises(CommandError, match="broken at sequence 5"):
        call_command("verify_audit")


def test_a_chain_cut_below_the_exported_head_is_detected(head_path):
    append(5)
    audit_head_export()
    as_table_owner("DELETE FROM compliance_auditevent WHERE sequence > 3")
    as_table_owner(
        "UPDATE compliance_auditchainhead SET sequence = 3, hash = "
        "(SELECT hash FROM compliance_auditevent WHERE sequence = 3)"
    )
    assert audit_chain_verify().ok
    result = audit_chain_verify(anchor=audit_head_read())
    assert (result.ok, result.first_broken_sequence) == (False, 4)


def test_a_forged_head_file_is_refused(head_path):
    append(2)
    audit_head_export()
    data = json.loads(head_path.read_text())
    data["sequence"] = 1
    head_path.write_text(json.dumps(data))
    with pytest.raises(HeadInvalid, match="signature does not match"):
        audit_head_read()
    with pytest.raises(CommandError, match="signature does not match"):
        call_command("verify_audit")


def test_verify_audit_reports_the_head_it_checked(head_path, capsys):
    append(3)
    audit_head_export()
    append(2)  # events after the export still verify
    call_command("verify_audit")
    assert "audit chain ok: 5 events, holds the exported head #3" in capsys.readouterr().out


def test_the_scheduled_task_exports_the_head(head_path):
    from compliance.tasks import audit_head_export_task

    append(2)
    audit_head_export_task.delay()
    assert audit_head_read().sequence == 2
