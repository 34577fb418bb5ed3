from celery import shared_task

from genesis_site.services import heartbeat_record


@shared_task(name="genesis_site.heartbeat_record", ignore_result=True)
def heartbeat_record_task() -> None:
    """Proves the scheduler (beat, or the embedded one) is scheduling and a worker is running."""
    heartbeat_record(name="scheduler")
