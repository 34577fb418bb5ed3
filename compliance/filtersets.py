"""Explicit API filters (django-filter) for the compliance lists."""

import django_filters

from compliance.models import ActorType, AuditEvent, SignOff, SignOffDecision, SignOffRole, SignOffSubject
from genesis_site.filters import IdFilter, SequenceFilter, StrictFilterSet


class AuditEventFilter(StrictFilterSet):
    action = django_filters.CharFilter(help_text="Exact action, e.g. stop.halt.")
    action_prefix = django_filters.CharFilter(field_name="action", lookup_expr="startswith", help_text="e.g. order.")
    actor = django_filters.CharFilter()
    actor_type = django_filters.ChoiceFilter(choices=ActorType.choices)
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()
    correlation_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="lt")
    after_sequence = SequenceFilter(field_name="sequence", lookup_expr="gt")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "actor_type", "object_type", "object_id", "correlation_id"]


class SignOffFilter(StrictFilterSet):
    account = IdFilter(field_name="account_id")
    subject = django_filters.ChoiceFilter(choices=SignOffSubject.choices)
    subject_ref = django_filters.CharFilter()
    role = django_filters.ChoiceFilter(choices=SignOffRole.choices)
    decision = django_filters.ChoiceFilter(choices=SignOffDecision.choices)

    class Meta:
        model = SignOff
        fields = ["account", "subject", "subject_ref", "role", "decision"]
