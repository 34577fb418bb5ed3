class RiskError(Exception):
    code = "risk_error"


class ConfigInvalid(RiskError):
    """A risk policy that cannot be accepted; `errors` lists every reason at once."""

    code = "config_invalid"

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


class RiskRefused(RiskError):
    """An order intent refused by the pre-trade gate; names the rule and the numbers."""

    code = "risk_refused"

    def __init__(self, rule: str, message: str):
        self.rule = rule
        super().__init__(f"{rule}: {message}")
