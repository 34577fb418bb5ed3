from rest_framework import serializers

from genesis_site.fields import StrictCharField, StrictRegexField
from trading.api.serializers import AccountCommandSerializer

SYMBOL = r"^[A-Z0-9._-]{1,15}/[A-Z0-9._:-]{1,16}$"
SYMBOL_ERRORS = {"invalid": "Use BASE/QUOTE in capitals, e.g. BTC/USDT."}
STOP_LEVELS = ["none", "pause_entries", "halt", "flatten"]


class StopStateSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    stop_level = serializers.ChoiceField(choices=STOP_LEVELS)
    stop_reason = StrictCharField(allow_blank=True)
    cancelled_orders = serializers.IntegerField(
        required=False,
        help_text="Halt and flatten: orders cancelled by the time of this answer (a paper account's: all of them).",
    )
    cancel_on_exchange = serializers.IntegerField(
        required=False,
        help_text=(
            "Halt and flatten of a LIVE account: open orders whose cancel goes to the exchange right after "
            "this answer (the stop is already in force: none of them can be sent any more). Each outcome "
            "shows in the order's status and audit trail (cancelled, or filled if it filled first); a "
            "failed cancel raises an api_error_burst alert and is retried by the next tick and reconciliation."
        ),
    )
    closed_positions = serializers.IntegerField(
        required=False,
        help_text="Flatten: positions closed by the time of this answer (paper: sold; LIVE: recorded as dust).",
    )
    exit_orders = serializers.IntegerField(
        required=False,
        help_text="Flatten of a LIVE account: market sells sent to the exchange after the cancels.",
    )


class ReleaseSerializer(AccountCommandSerializer):
    symbol = StrictRegexField(
        SYMBOL, required=False, error_messages=SYMBOL_ERRORS, help_text="Lift this symbol's locks instead."
    )


class SymbolLockCreateSerializer(AccountCommandSerializer):
    symbol = StrictRegexField(SYMBOL, error_messages=SYMBOL_ERRORS, help_text="BASE/QUOTE, e.g. BTC/USDT.")
    minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60, help_text="How long entries stay paused.")


class SymbolLockReleaseSerializer(AccountCommandSerializer):
    symbol = StrictRegexField(SYMBOL, error_messages=SYMBOL_ERRORS)


class SymbolLockSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    symbol = StrictCharField()
    until = serializers.DateTimeField()
    reason = StrictCharField()
    created_by = StrictCharField()
    created_at = serializers.DateTimeField()


class SymbolListsSerializer(serializers.Serializer):
    account = serializers.IntegerField(read_only=True)
    config_version = serializers.IntegerField(read_only=True, allow_null=True)
    symbols_allow = serializers.ListField(
        child=StrictRegexField(SYMBOL, error_messages=SYMBOL_ERRORS),
        max_length=500,
        help_text="Entries only in these symbols; empty allows every symbol.",
    )
    symbols_deny = serializers.ListField(
        child=StrictRegexField(SYMBOL, error_messages=SYMBOL_ERRORS),
        max_length=500,
        help_text="Never enter these symbols (exits still run).",
    )


class SymbolListsUpdateSerializer(SymbolListsSerializer, AccountCommandSerializer):
    """A change of the lists is a new configuration version, created and activated."""


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField()
    type = StrictCharField()
    severity = serializers.ChoiceField(choices=["info", "warning", "critical"])
    status = serializers.ChoiceField(choices=["open", "acknowledged", "resolved"])
    message = StrictCharField(allow_blank=True)
    details = serializers.DictField()
    count = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    escalated_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = StrictCharField(allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    resolved_by = StrictCharField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    runbook = StrictCharField()


class AlertCommandSerializer(serializers.Serializer):
    comment = StrictCharField(max_length=1000, required=False, allow_blank=True, default="")


class ConfigVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    version = serializers.IntegerField()
    sha256 = StrictCharField()
    content = StrictCharField()
    reason = StrictCharField()
    author = StrictCharField(allow_null=True, source="author__username")
    parent_version = serializers.IntegerField(allow_null=True, source="parent__version")
    is_active = serializers.BooleanField()
    warnings = serializers.ListField(child=StrictCharField())
    created_at = serializers.DateTimeField()


class ConfigCreateSerializer(AccountCommandSerializer):
    content = StrictCharField(max_length=100_000, help_text="The risk policy as YAML (SPEC R1).")
    activate = serializers.BooleanField(default=False, help_text="Activate the new version at once.")


class ConfigActivateSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500)


class ConfigRollbackSerializer(AccountCommandSerializer):
    version = serializers.IntegerField(min_value=1, help_text="The earlier version to activate again.")


class ConfigDiffQuerySerializer(serializers.Serializer):
    against = serializers.IntegerField(
        min_value=1, required=False, help_text="Version number to compare with; the parent when omitted."
    )


class ConfigChangeSerializer(serializers.Serializer):
    key = StrictCharField()
    to = serializers.JSONField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.JSONField()
        return fields


class ConfigDiffSerializer(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    changes = ConfigChangeSerializer(many=True)
    unified = StrictCharField(allow_blank=True)
