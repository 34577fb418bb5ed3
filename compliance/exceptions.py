class ComplianceError(Exception):
    code = "compliance_error"


class SignOffRefused(ComplianceError):
    """A sign-off that cannot be recorded; the message names the field or the rule."""

    code = "signoff_refused"
