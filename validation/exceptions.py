"""Validation's domain errors; the API's exception handler turns them into 4xx responses."""


class ValidationDomainError(Exception):
    code = "validation_error"


class CriteriaInvalid(ValidationDomainError):
    code = "criteria_invalid"


class RunRefused(ValidationDomainError):
    code = "validation_run_refused"


class RunInProgress(RunRefused):
    """A run of the same account is still pending or running (one at a time per account)."""

    code = "validation_run_in_progress"


class GoLiveRefused(ValidationDomainError):
    code = "golive_refused"


class BackupError(ValidationDomainError):
    code = "backup_invalid"
