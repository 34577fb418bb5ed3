from genesis_site.domain_errors import Conflict, NotFound, Unprocessable


class RiskError(Exception):
    code = "risk_error"


class ConfigInvalid(RiskError, Unprocessable):
    """A risk policy that cannot be accepted; `errors` lists every reason at once."""

    code = "config_invalid"

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


class RiskRefused(RiskError, Conflict):
    """An order intent refused by the pre-trade gate; names the rule and the numbers."""

    code = "risk_refused"

    def __init__(self, rule: str, message: str):
        self.rule = rule
        super().__init__(f"{rule}: {message}")


class ConfigVersionNotFound(NotFound, ConfigInvalid):
    """The account has no configuration version of that number."""

    code = "config_version_not_found"


class ConfigConflict(Conflict, ConfigInvalid):
    """A valid request the policy's state refuses (e.g. that version is already active)."""

    code = "config_conflict"
