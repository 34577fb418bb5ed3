from django.db import connection


def as_table_owner(sql: str, params: list | tuple = ()) -> None:
    """Run SQL the way a tamperer owning the tables would: on PostgreSQL that first takes
    disabling the append-only triggers (only an owner may). The test transaction rolls it back."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
            cursor.execute("ALTER TABLE compliance_auditchainhead DISABLE TRIGGER USER")
        cursor.execute(sql, params)
