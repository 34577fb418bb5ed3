"""Explicit API filters (django-filter) for the trading lists."""

import django_filters
from django.db.models import Q

from genesis_site.filters import IdFilter, StrictFilterSet
from trading.models import Fill, Order, OrderSide, OrderStatus, Position, Strategy, StrategyState


class _AccountFilter(StrictFilterSet):
    account = IdFilter(field_name="account_id", help_text="Only this account id.")


class StrategyFilter(_AccountFilter):
    state = django_filters.ChoiceFilter(choices=StrategyState.choices)

    class Meta:
        model = Strategy
        fields = ["account", "state"]


class OrderFilter(_AccountFilter):
    symbol = django_filters.CharFilter()
    side = django_filters.ChoiceFilter(choices=OrderSide.choices)
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    strategy = IdFilter(field_name="strategy_id")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["account", "symbol", "side", "status", "strategy", "since", "until"]


class FillFilter(_AccountFilter):
    symbol = django_filters.CharFilter()
    side = django_filters.ChoiceFilter(choices=OrderSide.choices)
    order = IdFilter(field_name="order_id")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Fill
        fields = ["account", "symbol", "side", "order", "since", "until"]


class PositionFilter(_AccountFilter):
    symbol = django_filters.CharFilter()
    open = django_filters.BooleanFilter(
        method="filter_open",
        help_text="true: open positions only; false: closed ones, fee dust included (default: all).",
    )

    class Meta:
        model = Position
        fields = ["account", "symbol", "open"]

    def filter_open(self, queryset, name, value):
        is_open = Q(quantity__gt=0, dust=False)
        return queryset.filter(is_open) if value else queryset.exclude(is_open)
