"""Strict request fields shared by every app's API serializers.

DRF's CharField turns a JSON number or boolean into its text ("reason": 0 becomes "0"), but
the schema says `string`; a request that breaks the schema must be refused (SPEC §10, §11)."""

import re
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictStringMixin:
    """Refuses a JSON value that is not a string instead of coercing it."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictCharField(StrictStringMixin, serializers.CharField):
    pass


class StrictRegexField(StrictStringMixin, serializers.RegexField):
    pass


def _positive_decimal_pattern(whole: int, places: int) -> str:
    """A regex for the decimals DRF's DecimalField(max_digits=whole+places, decimal_places=places,
    min_value=10**-places) accepts as a string: at most `whole` significant digits before the
    point, at most `places` after it, and not zero."""
    nonzero_whole = rf"0*[1-9][0-9]{{0,{whole - 1}}}(\.[0-9]{{0,{places}}})?"
    nonzero_fraction = "|".join(rf"0{{{k}}}[1-9][0-9]{{0,{places - 1 - k}}}" for k in range(places))
    return rf"^({nonzero_whole}|0*\.({nonzero_fraction}))$"


AMOUNT_WHOLE_DIGITS, AMOUNT_PLACES = 18, 10
AMOUNT_PATTERN = _positive_decimal_pattern(AMOUNT_WHOLE_DIGITS, AMOUNT_PLACES)
_AMOUNT = re.compile(AMOUNT_PATTERN)


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": AMOUNT_PATTERN,
        "example": "0.015",
    }
)
class AmountField(StrictStringMixin, serializers.DecimalField):
    """A positive amount as a decimal string (money is Decimal, never a float): at most 18 digits
    before the point and 10 after; the schema states exactly that as a pattern, and the same
    pattern refuses what Decimal() would also read (" 1", "1e3", "+1")."""

    default_error_messages = {"not_amount": "Use a positive decimal, e.g. 0.015 (at most 18 digits, 10 decimals)."}

    def to_internal_value(self, data):
        if isinstance(data, str) and not _AMOUNT.fullmatch(data):
            self.fail("not_amount")
        return super().to_internal_value(data)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", AMOUNT_WHOLE_DIGITS + AMOUNT_PLACES)
        kwargs.setdefault("decimal_places", AMOUNT_PLACES)
        kwargs.setdefault("min_value", Decimal(1).scaleb(-AMOUNT_PLACES))
        super().__init__(**kwargs)
