"""Shared django-filter pieces for the API FilterSets."""

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from genesis_site.errors import CATEGORIES, SEVERITIES

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


class FailedTaskFilter(django_filters.FilterSet):
    """Filters of the dead-letter list (SPEC M7)."""

    status = django_filters.ChoiceFilter(choices=[("dead", "dead"), ("retried", "retried"), ("discarded", "discarded")])
    task_name = django_filters.CharFilter(help_text="Exact task name, e.g. trading.engine_tick.")
    category = django_filters.ChoiceFilter(choices=[(c, c) for c in CATEGORIES])
    severity = django_filters.ChoiceFilter(choices=[(s, s) for s in SEVERITIES])
    since = django_filters.IsoDateTimeFilter(field_name="failed_at", lookup_expr="gte")

    class Meta:
        from genesis_site.models import FailedTask

        model = FailedTask
        fields = ["status", "task_name", "category", "severity", "since"]
