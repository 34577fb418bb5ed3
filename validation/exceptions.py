"""Validation's domain errors; the API's exception handler turns them into 4xx responses."""

from genesis_site.domain_errors import Conflict, NotFound


class ValidationDomainError(Exception):
    code = "validation_error"


class CriteriaInvalid(ValidationDomainError):
    code = "criteria_invalid"


class RunRefused(ValidationDomainError):
    code = "validation_run_refused"


class RunInProgress(RunRefused, Conflict):
    """A run of the same account is still pending or running (one at a time per account)."""

    code = "validation_run_in_progress"


class GoLiveRefused(ValidationDomainError):
    code = "golive_refused"


class BackupError(ValidationDomainError):
    code = "backup_invalid"


class RunNotFound(RunRefused, NotFound):
    """The account named does not exist."""

    code = "not_found"


class GoLiveNotFound(GoLiveRefused, NotFound):
    """The account, run or decision named does not exist."""

    code = "not_found"


class GoLiveConflict(GoLiveRefused, Conflict):
    """The account's state refuses the decision (no active configuration, run not finished)."""

    code = "golive_conflict"
