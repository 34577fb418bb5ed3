"""Validation's domain errors; the API's exception handler turns them into 4xx responses."""


class ValidationDomainError(Exception):
    code = "validation_error"


class CriteriaInvalid(ValidationDomainError):
    code = "criteria_invalid"


class RunRefused(ValidationDomainError):
    code = "validation_run_refused"


class GoLiveRefused(ValidationDomainError):
    code = "golive_refused"


class BackupError(ValidationDomainError):
    code = "backup_invalid"
