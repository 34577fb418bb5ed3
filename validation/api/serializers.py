"""Input and output shapes of the validation endpoints. Checks live in the services; these only
parse input and shape output."""

from rest_framework import serializers

from genesis_site.fields import StrictCharField
from validation.criteria import MODES
from validation.models import Decision
from validation.validators import validator_choices


class ValidatorNameField(serializers.ChoiceField):
    """A validator or group name, read from the registry each time a serializer is made (DRF
    re-runs __init__ for every copy), so a validator registered later is known to the API and
    the schema alike."""

    def __init__(self, **kwargs):
        super().__init__(choices=validator_choices(), **kwargs)


class RunStartSerializer(serializers.Serializer):
    # An enum in the schema (named ValidationModeEnum in settings, apart from the trading mode's).
    mode = serializers.ChoiceField(choices=MODES, default="quick", help_text=f"One of {', '.join(MODES)}.")
    only = serializers.ListField(
        child=ValidatorNameField(),
        required=False,
        help_text="Validators or groups to run.",
    )
    account = serializers.IntegerField(
        required=False, min_value=1, help_text="Validate this account's active configuration."
    )


class CheckResultSerializer(serializers.Serializer):
    name = StrictCharField()
    check_id = StrictCharField()
    status = StrictCharField()
    blocking = serializers.BooleanField()
    details = StrictCharField()
    evidence = serializers.JSONField()
    duration_seconds = serializers.FloatField()
    finished_at = serializers.DateTimeField()


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mode = StrictCharField()
    status = StrictCharField()
    decision = StrictCharField()
    score = serializers.FloatField(allow_null=True)
    trigger = StrictCharField()
    actor = StrictCharField()
    account = serializers.IntegerField(source="account_id", allow_null=True)
    checks_planned = serializers.ListField(child=StrictCharField())
    code_version = StrictCharField()
    config_hash = StrictCharField()
    criteria_sha256 = StrictCharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    blocking_issues = serializers.SerializerMethodField()

    def get_blocking_issues(self, run) -> list[str]:
        return [line for line in run.error.splitlines() if line]


class RunDetailSerializer(RunSerializer):
    results = CheckResultSerializer(many=True)


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    decision = StrictCharField()
    config_hash = StrictCharField()
    run = serializers.IntegerField(source="run_id", allow_null=True)
    score = serializers.FloatField()
    checklist = serializers.JSONField()
    blocking_issues = serializers.ListField(child=StrictCharField())
    warnings = serializers.ListField(child=StrictCharField())
    recommendation = StrictCharField()
    decided_by = StrictCharField()
    decided_at = serializers.DateTimeField()
    overrides = serializers.IntegerField(source="overrides_id", allow_null=True)
    override_reason = StrictCharField()


class DecideSerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1)
    run = serializers.IntegerField(min_value=1, required=False)


class OverrideSerializer(serializers.Serializer):
    decision = StrictCharField(max_length=8, help_text=f"One of {', '.join(Decision.values)}.")
    reason = StrictCharField(min_length=10, max_length=2000)


class TrendPointSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    at = serializers.DateTimeField()
    status = StrictCharField()
    passed = serializers.IntegerField()
    duration_seconds = serializers.FloatField()
    figures = serializers.JSONField()
