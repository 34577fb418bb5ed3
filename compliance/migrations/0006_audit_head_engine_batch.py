"""The chain head may move forward by several events at once (compliance.services.audit_batch
links a transaction's events under one head lock and moves the head once), but only onto an
event that exists with that hash, and only if the event after the old head links from it
(SPEC C1). This is stricter than "forward by exactly one", which accepted any hash."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION genesis_audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.sequence <= OLD.sequence
        OR NOT EXISTS (
            SELECT 1 FROM compliance_auditevent WHERE sequence = NEW.sequence AND hash = NEW.hash
        )
        OR NOT EXISTS (
            SELECT 1 FROM compliance_auditevent WHERE sequence = OLD.sequence + 1 AND prev_hash = OLD.hash
        )
    THEN
        RAISE EXCEPTION 'audit chain head only moves forward onto events linked from it: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""

BACKWARD = """
CREATE OR REPLACE FUNCTION genesis_audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.sequence <> OLD.sequence + 1 THEN
        RAISE EXCEPTION 'audit chain head only moves forward by one: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)  # None: the % in RAISE are not placeholders


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0005_signoff_role_permissions")]
    operations = [migrations.RunPython(forward, backward)]
