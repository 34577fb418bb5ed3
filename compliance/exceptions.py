from genesis_site.domain_errors import Conflict


class ComplianceError(Exception):
    code = "compliance_error"


class SignOffRefused(ComplianceError):
    """A sign-off that cannot be recorded; the message names the field or the rule."""

    code = "signoff_refused"


class SignOffConflict(SignOffRefused, Conflict):
    """Nothing to sign off in the account's current state (no active configuration)."""

    code = "signoff_conflict"


class RetentionError(ComplianceError):
    code = "retention_error"


class ArchiveInvalid(RetentionError):
    """An archive that cannot be trusted or read; the message names the file."""

    code = "archive_invalid"


class RetentionConflict(RetentionError):
    """The database moved under a purge or a restore; nothing was changed."""

    code = "retention_conflict"
