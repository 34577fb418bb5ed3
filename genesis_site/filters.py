"""Shared django-filter pieces for the API FilterSets."""

import django_filters
from django import forms
from django_filters.filters import QuerySetRequestMixin
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


_BOOLEANS = {"true", "false", "True", "False"}


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet that refuses what its schema refuses. django-filter treats an empty value
    as "no filter" and a NullBooleanSelect reads `null` or `unknown` as "no filter"; the schema
    says a date-time, an enum, an id or a boolean. So a typed parameter that is given must hold a
    value of its type (free-text CharFilters may be empty): anything else is a 400 naming it."""

    def get_form_class(self):
        """django-filter builds the form class, with a new form field per filter, on every request
        (~0.5 ms for the orders list's seven filters). It depends only on the filters' declarations
        unless a filter's choices come from the request (model choices), so it is built once per
        FilterSet class then; each form still gets its own copies of the fields."""
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            if not any(isinstance(f, QuerySetRequestMixin) for f in self.filters.values()):
                cls._form_class = form_class
        return form_class

    def is_valid(self):
        valid = super().is_valid()
        for name, filter_ in self.filters.items():
            if name not in self.data:
                continue
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else [self.data[name]]
            if isinstance(filter_, django_filters.BooleanFilter):
                bad = [v for v in values if v not in _BOOLEANS]
                message = "Must be true or false."
            elif isinstance(filter_, django_filters.CharFilter):
                continue
            else:
                bad = [v for v in values if v == ""]
                message = "May not be empty."
            if bad:
                if name not in self.form.errors:
                    self.form.add_error(name, message)
                valid = False
        return valid


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": MAX_ID})
class SequenceFilter(IdFilter):
    """A position in a sequence: 0 (before the first) or a positive 64-bit integer."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        super().__init__(*args, **kwargs)


class FailedTaskFilter(StrictFilterSet):
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
