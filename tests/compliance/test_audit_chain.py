import itertools

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from compliance.chain import GENESIS_HASH
from compliance.models import AuditChainHead, AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor, audit_append
from tests.compliance.tamper import as_table_owner
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def append(n: int, start: int = 0) -> list[AuditEvent]:
    events = []
    with transaction.atomic():
        for i in range(start, start + n):
            events.append(audit_append(actor=ACTOR, action="test.event", payload={"i": i, "amount": "1.50"}))
    return events


def test_appended_events_link_into_a_verifiable_chain():
    events = append(5)
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert audit_chain_verify().ok
    assert audit_chain_verify().checked == 5
    head = AuditChainHead.objects.get()
    assert (head.sequence, head.hash) == (5, events[-1].hash)


def test_a_tampered_payload_is_found_at_its_sequence():
    append(6)
    as_table_owner("UPDATE compliance_auditevent SET payload = %s WHERE sequence = 4", ['{"i": 3, "amount": "1500"}'])
    result = audit_chain_verify()
    assert not result.ok
    assert result.first_broken_sequence == 4
    assert result.checked == 3
    assert "content does not match" in result.reason


def test_a_rehashed_row_breaks_the_link_of_the_next_one():
    events = append(5)
    as_table_owner("UPDATE compliance_auditevent SET hash = %s WHERE sequence = 2", ["f" * 64])
    result = audit_chain_verify()
    assert result.first_broken_sequence == 2  # its own hash no longer matches its content
    assert events[2].prev_hash != "f" * 64


def test_a_deleted_row_is_named_as_missing():
    append(5)
    as_table_owner("DELETE FROM compliance_auditevent WHERE sequence = %s", [3])
    result = audit_chain_verify()
    assert (result.ok, result.first_broken_sequence) == (False, 3)
    assert "missing" in result.reason


def test_a_truncated_tail_is_caught_by_the_chain_head():
    append(5)
    as_table_owner("DELETE FROM compliance_auditevent WHERE sequence >= %s", [4])
    result = audit_chain_verify()
    assert (result.ok, result.first_broken_sequence) == (False, 4)
    assert "shorter than its recorded head" in result.reason


@pytest.mark.django_db(transaction=True)
def test_audit_append_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_append(actor=ACTOR, action="test.event")


def test_an_event_rolls_back_with_the_change_it_records():
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        audit_append(actor=ACTOR, action="test.event")
        1 / 0
    assert not AuditEvent.objects.exists()


def test_verify_audit_command_names_the_first_broken_sequence(capsys):
    append(3)
    call_command("verify_audit")
    assert "audit chain ok: 3 events" in capsys.readouterr().out
    as_table_owner("UPDATE compliance_auditevent SET actor = %s WHERE sequence = 2", ["mallory"])
    with pytest.raises(CommandError, match="broken at sequence 2"):
        call_command("verify_audit")


def test_an_account_event_is_stamped_with_the_accounts_active_config_hash():
    account = TradingAccountFactory()
    version = active_policy(account)
    with transaction.atomic():
        stamped = audit_append(actor=ACTOR, action="test.event", payload={"account": account.pk})
        explicit = audit_append(actor=ACTOR, action="test.event", payload={"account": account.pk}, config_hash="x")
        unscoped = audit_append(actor=ACTOR, action="test.event", payload={})
    assert (stamped.config_hash, explicit.config_hash, unscoped.config_hash) == (version.sha256, "x", "")
    assert audit_chain_verify().ok


@pytest.mark.parametrize(
    "payload",
    [
        {"ratio": 1e-05},  # orjson writes 0.00001, the canonical form 1e-05
        {"big": 2**70},  # beyond orjson's 64-bit integers
        {"text": 'naïve \u2028 "quoted" \\ \n', "nested": {"b": [1, 2.5, None, True], "a": {}}},
    ],
)
def test_values_the_fast_serializer_writes_differently_still_verify(payload):
    append(2)
    with transaction.atomic():
        audit_append(actor=ACTOR, action="test.event", payload=payload)
    append(2, start=10)
    assert audit_chain_verify() == audit_chain_verify().__class__(True, 5)


def test_a_tampered_value_the_fast_serializer_refuses_is_still_caught():
    append(1)
    with transaction.atomic():
        audit_append(actor=ACTOR, action="test.event", payload={"big": 2**70})
    as_table_owner(
        "UPDATE compliance_auditevent SET payload = %s WHERE sequence = 2", ['{"big": 1180591620717411303425}']
    )
    result = audit_chain_verify()
    assert (result.ok, result.first_broken_sequence) == (False, 2)


def test_the_chain_verifies_across_page_boundaries():
    append(7)
    assert audit_chain_verify(batch_size=3).checked == 7
    as_table_owner("UPDATE compliance_auditevent SET payload = %s WHERE sequence = 6", ['{"i": 5, "amount": "9"}'])
    assert audit_chain_verify(batch_size=3).first_broken_sequence == 6


class _Undo(Exception):
    pass


def test_a_batch_links_its_events_at_its_end_and_drops_those_of_a_rolled_back_savepoint():
    from compliance.services import audit_batch

    append(2)
    with transaction.atomic(), audit_batch():
        first = audit_append(actor=ACTOR, action="test.kept", payload={"i": 1})
        assert first.sequence is None and AuditChainHead.objects.get().sequence == 2  # not written yet
        try:
            with transaction.atomic():
                audit_append(actor=ACTOR, action="test.undone", payload={})
                raise _Undo
        except _Undo:
            pass
        with transaction.atomic():  # a savepoint released into the batch's transaction
            audit_append(actor=ACTOR, action="test.kept", payload={"i": 2})
    assert list(AuditEvent.objects.values_list("sequence", "action")) == [
        (1, "test.event"),
        (2, "test.event"),
        (3, "test.kept"),
        (4, "test.kept"),
    ]
    assert first.sequence == 3 and AuditChainHead.objects.get().sequence == 4
    assert audit_chain_verify().ok


def test_an_exception_in_a_batch_rolls_back_its_changes_and_events_together():
    from compliance.services import audit_batch

    account = TradingAccountFactory()
    with pytest.raises(_Undo), transaction.atomic(), audit_batch():
        account.name = "renamed"
        account.save()
        audit_append(actor=ACTOR, action="test.undone", payload={"account": account.pk})
        raise _Undo
    account.refresh_from_db()
    assert account.name != "renamed" and not AuditEvent.objects.filter(action="test.undone").exists()
