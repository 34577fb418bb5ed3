"""PostgreSQL backend for the test suite only.

Django empties the database between transactional tests with TRUNCATE, which the audit
triggers refuse, as they must in production. Here, and only around that flush, the table
owner (the test user) disables the triggers and restores them ENABLE ALWAYS afterwards, in
the same transaction as the TRUNCATE."""

from django.db.backends.postgresql import base, operations

GUARDED = {
    "compliance_auditevent": ("audit_no_update_delete", "audit_no_truncate"),
    "compliance_auditchainhead": ("audit_head_forward_only", "audit_head_no_truncate"),
}


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        sql = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        guarded = [t for t in GUARDED if t in tables]
        if not sql or not guarded:
            return sql
        disable = [f"ALTER TABLE {t} DISABLE TRIGGER USER;" for t in guarded]
        enable = [f"ALTER TABLE {t} ENABLE ALWAYS TRIGGER {name};" for t in guarded for name in GUARDED[t]]
        return [*disable, *sql, *enable]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
