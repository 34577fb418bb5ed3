"""The validator registry (SPEC V1). Every module below registers its validators on import."""

from validation.validators.base import BaseValidator

REGISTRY: dict[str, type[BaseValidator]] = {}


def register(cls: type[BaseValidator]) -> type[BaseValidator]:
    if cls.name in REGISTRY:
        raise ValueError(f"validator {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls
    return cls


def validator_choices() -> list[str]:
    """Every name `only` may hold: each validator and each group (for the API's enum)."""
    return sorted(set(REGISTRY) | {v.group for v in REGISTRY.values()})


def validators_select(*, names: list[str] | str, only: list[str] | None = None) -> list[str]:
    """The validator names of a mode (`"all"` or a list), narrowed to `only` (names or groups)."""
    selected = list(REGISTRY) if names == "all" else list(names)
    if only:
        unknown = [n for n in only if n not in REGISTRY and n not in {v.group for v in REGISTRY.values()}]
        if unknown:
            from validation.exceptions import RunRefused

            known = ", ".join(sorted(set(REGISTRY) | {v.group for v in REGISTRY.values()}))
            raise RunRefused(f"only: unknown validator or group {', '.join(unknown)}; known: {known}")
        # --only names a validator or a group even outside the mode's default list.
        selected = [n for n in REGISTRY if n in only or REGISTRY[n].group in only]
    return selected


from validation.validators import (  # noqa: E402
    compliance,
    coverage,
    database,
    dr,
    execution,
    integration,
    monitoring,
    operational,
    probes,
    risk,
    security,
    strategy,
)

__all__ = [
    "REGISTRY",
    "BaseValidator",
    "compliance",
    "coverage",
    "database",
    "dr",
    "execution",
    "integration",
    "monitoring",
    "operational",
    "probes",
    "register",
    "risk",
    "security",
    "strategy",
    "validators_select",
]
