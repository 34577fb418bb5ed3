"""Celery tasks of the validation suite: they take ids and call one service each. Long checks
(soak, load, DR drill) run past the default time limits, so these tasks set their own, and are
acknowledged early: a redelivery would re-run a soak, while the services are idempotent anyway."""

from celery import shared_task

from validation.services import validation_check_run, validation_run_execute

SOFT_LIMIT = 3600
HARD_LIMIT = 3700


@shared_task(
    name="validation.run_execute",
    ignore_result=True,
    acks_late=False,
    soft_time_limit=SOFT_LIMIT,
    time_limit=HARD_LIMIT,
)
def validation_run_execute_task(run_id: int) -> None:
    """Execute a pending validation run."""
    validation_run_execute(run_id=run_id)


@shared_task(
    name="validation.check_run", ignore_result=True, acks_late=False, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT
)
def validation_check_run_task(run_id: int, name: str) -> None:
    """Measure one check of a run; the last one finalizes the run."""
    validation_check_run(run_id=run_id, name=name)
