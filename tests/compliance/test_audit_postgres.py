"""The database itself refuses to rewrite the audit trail (SPEC C1, §10), and concurrent
appenders in separate processes produce one gap-free chain."""

import subprocess
import sys
import textwrap
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import DatabaseError, connection, transaction

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor, audit_append
from tests.e2e.procs import ROOT

pytestmark = pytest.mark.postgres
ACTOR = Actor.system("tests")


def execute(sql: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


@pytest.fixture
def events(db):
    with transaction.atomic():
        return [audit_append(actor=ACTOR, action="test.event", payload={"i": i}) for i in range(3)]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE compliance_auditevent SET actor = 'mallory' WHERE sequence = 2",
        "DELETE FROM compliance_auditevent WHERE sequence = 3",
        "TRUNCATE compliance_auditevent",
        "UPDATE compliance_auditchainhead SET sequence = 1",
        "UPDATE compliance_auditchainhead SET sequence = 4, hash = repeat('f', 64)",  # onto no event
        "DELETE FROM compliance_auditchainhead",
        "TRUNCATE compliance_auditchainhead",
    ],
)
def test_the_database_refuses_to_rewrite_the_trail(events, sql):
    with pytest.raises(DatabaseError, match="refused"):
        execute(sql)
    assert AuditEvent.objects.count() == 3
    assert audit_chain_verify().ok


def test_replica_session_role_does_not_silence_the_triggers(events):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM compliance_auditevent")
    assert AuditEvent.objects.count() == 3


APPENDER = textwrap.dedent(
    """
    import os, sys, time, django
    django.setup()
    from django.db import transaction
    from compliance.services import Actor, audit_append, audit_batch
    start_at, worker, count = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    time.sleep(max(0, start_at - time.time()))
    for i in range(count):
        with transaction.atomic():
            if i % 2:  # a batch of three, as an engine tick appends them
                with audit_batch():
                    for j in range(3):
                        audit_append(actor=Actor.system(worker), action="test.concurrent", payload={"i": i, "j": j})
            else:
                audit_append(actor=Actor.system(worker), action="test.concurrent", payload={"i": i})
    """
)


@pytest.mark.django_db(transaction=True)
def test_concurrent_appenders_in_separate_processes_build_one_gap_free_chain():
    url = urlsplit(__import__("os").environ["DATABASE_URL"])
    test_db = urlunsplit(url._replace(path=f"/{connection.settings_dict['NAME']}"))
    env = {**__import__("os").environ, "DATABASE_URL": test_db, "DJANGO_SETTINGS_MODULE": "genesis_site.settings.dev"}
    import time

    start_at = str(time.time() + 3)  # all four begin together, after their Django start-up
    workers, per_worker = 4, 150
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, start_at, f"w{n}", str(per_worker)], cwd=ROOT, env=env)
        for n in range(workers)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * workers
    total = workers * (per_worker // 2 + per_worker // 2 * 3)  # singles and batches of three
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, total + 1))
    assert set(AuditEvent.objects.values_list("actor", flat=True)) == {f"w{n}" for n in range(workers)}
    # A batch's events are consecutive in the chain: it links them under one head lock.
    for n in range(workers):
        rows = AuditEvent.objects.filter(actor=f"w{n}", payload__has_key="j").order_by("sequence")
        batches: dict[int, list[int]] = {}
        for payload, sequence in rows.values_list("payload", "sequence"):
            batches.setdefault(payload["i"], []).append(sequence)
        assert all(seqs == list(range(seqs[0], seqs[0] + 3)) for seqs in batches.values())
    result = audit_chain_verify()
    assert result.ok and result.checked == total
