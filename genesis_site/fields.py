"""Strict request fields shared by every app's API serializers.

DRF's CharField turns a JSON number or boolean into its text ("reason": 0 becomes "0"), but
the schema says `string`; a request that breaks the schema must be refused (SPEC §10, §11)."""

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
