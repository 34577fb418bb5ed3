"""Shared django-filter pieces for the API FilterSets."""

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

MAX_ID = 2**63 - 1


class IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """A primary-key filter: a positive 64-bit integer, anything else is a 400 naming it
    (django-filter's NumberFilter takes any decimal, which a database may not hold)."""

    field_class = IdField
