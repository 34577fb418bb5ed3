"""Kinds of domain refusal, shared by every app and mapped to HTTP in one place
(genesis_site.api.exception_handler). An app's error class mixes in the kind:

    class StopConflict(StopRefused, Conflict): ...

Not found -> 404, conflict with the state of the system -> 409; any other domain error is
bad input -> 400. Dependency-free, so every app's exceptions module may import it."""


class NotFound(Exception):
    """The thing the request names does not exist (or is not visible to the caller)."""

    http_status = 404


class Conflict(Exception):
    """Well-formed, but refused by the current state (already halted, not locked, running)."""

    http_status = 409
