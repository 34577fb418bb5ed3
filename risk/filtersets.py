"""Explicit API filters (django-filter) for the risk lists."""

import django_filters

from genesis_site.filters import IdFilter, StrictFilterSet
from risk.models import Alert, AlertSeverity, AlertStatus, AlertType, ConfigVersion, SymbolLock


class AlertFilter(StrictFilterSet):
    account = IdFilter(field_name="account_id")
    type = django_filters.ChoiceFilter(choices=AlertType.choices)
    severity = django_filters.ChoiceFilter(choices=AlertSeverity.choices)
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)

    class Meta:
        model = Alert
        fields = ["account", "type", "severity", "status"]


class ConfigVersionFilter(StrictFilterSet):
    account = IdFilter(field_name="account_id")
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = ConfigVersion
        fields = ["account", "is_active"]


class SymbolLockFilter(StrictFilterSet):
    account = IdFilter(field_name="account_id")
    symbol = django_filters.CharFilter()
    active = django_filters.BooleanFilter(method="filter_active", help_text="true: running locks only.")

    class Meta:
        model = SymbolLock
        fields = ["account", "symbol", "active"]

    def filter_active(self, queryset, name, value):
        from django.utils import timezone

        return queryset.filter(until__gt=timezone.now()) if value else queryset.filter(until__lte=timezone.now())
