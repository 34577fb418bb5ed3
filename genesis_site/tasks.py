from celery import shared_task

from genesis_site.services import heartbeat_record


@shared_task(name="genesis_site.heartbeat_record", ignore_result=True)
def heartbeat_record_task() -> None:
    """Proves the scheduler (beat, or the embedded one) is scheduling and a worker is running."""
    heartbeat_record(name="scheduler")


@shared_task(name="genesis_site.error_budget_export", ignore_result=True)
def error_budget_export_task() -> None:
    """Refresh the error-budget gauges from the tick outcome rows (SPEC M7)."""
    from genesis_site.errorbudget import error_budget_export

    error_budget_export()
