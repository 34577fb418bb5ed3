from celery import shared_task

from compliance.head import audit_head_export
from compliance.retention import retention_apply


@shared_task(name="compliance.retention_apply", ignore_result=True)
def retention_apply_task() -> None:
    """Apply every enabled retention policy (the beat entry). Safe to deliver twice: a second
    run finds nothing expired, or, if it overlaps the first, its delete finds the archived rows
    gone and changes nothing."""
    retention_apply()


@shared_task(name="compliance.audit_head_export", ignore_result=True)
def audit_head_export_task() -> None:
    """Export the signed audit chain head outside the database (SPEC C1). Idempotent: each
    run writes the current head; a lost run only widens the window a rewrite could hide in."""
    audit_head_export()
