"""Kinds of domain refusal, shared by every app and mapped to HTTP in one place
(genesis_site.api.exception_handler). An app's error class mixes in the kind:

    class StopConflict(StopRefused, Conflict): ...

Not found -> 404, conflict with the state of the system -> 409, well-formed input refused by a
rule the OpenAPI schema cannot state (policy rules, a range running backwards, an unknown
market) -> 422; any other domain error is bad input -> 400, which the schema describes. Put the
kind first among the bases when the app's base class has a kind of its own.
Dependency-free, so every app's exceptions module may import it."""


class NotFound(Exception):
    """The thing the request names does not exist (or is not visible to the caller)."""

    http_status = 404


class Conflict(Exception):
    """Well-formed, but refused by the current state (already halted, not locked, running)."""

    http_status = 409


class Unprocessable(Exception):
    """Every field is well-formed per the schema, but together or against the system's rules
    they are refused (the schema cannot state the rule: it lives in the domain)."""

    http_status = 422
