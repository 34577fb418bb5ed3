"""PostgreSQL refuses UPDATE, DELETE and TRUNCATE of audit events (SPEC C1, §10).

The triggers are ENABLE ALWAYS, so `SET session_replication_role = replica` does not silence
them. The chain head may only move forward by exactly one sequence. A table owner can still
drop the triggers; the exported, signed chain head is what detects a rewrite then.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION genesis_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON compliance_auditevent
    FOR EACH ROW EXECUTE FUNCTION genesis_audit_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON compliance_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION genesis_audit_refuse();
ALTER TABLE compliance_auditevent ENABLE ALWAYS TRIGGER audit_no_update_delete;
ALTER TABLE compliance_auditevent ENABLE ALWAYS TRIGGER audit_no_truncate;

CREATE FUNCTION genesis_audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.sequence <> OLD.sequence + 1 THEN
        RAISE EXCEPTION 'audit chain head only moves forward by one: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON compliance_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION genesis_audit_head_forward_only();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON compliance_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION genesis_audit_refuse();
ALTER TABLE compliance_auditchainhead ENABLE ALWAYS TRIGGER audit_head_forward_only;
ALTER TABLE compliance_auditchainhead ENABLE ALWAYS TRIGGER audit_head_no_truncate;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_no_update_delete ON compliance_auditevent;
DROP TRIGGER IF EXISTS audit_no_truncate ON compliance_auditevent;
DROP TRIGGER IF EXISTS audit_head_forward_only ON compliance_auditchainhead;
DROP TRIGGER IF EXISTS audit_head_no_truncate ON compliance_auditchainhead;
DROP FUNCTION IF EXISTS genesis_audit_refuse();
DROP FUNCTION IF EXISTS genesis_audit_head_forward_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)  # None: the % in RAISE are not placeholders


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0003_default_retention")]
    operations = [migrations.RunPython(forward, backward)]
