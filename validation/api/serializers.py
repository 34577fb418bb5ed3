"""Input and output shapes of the validation endpoints. Checks live in the services; these only
parse input and shape output."""

from rest_framework import serializers

from validation.criteria import MODES
from validation.models import Decision


class RunStartSerializer(serializers.Serializer):
    # A plain string (the service names a bad value): a second "mode" enum would collide in the
    # OpenAPI schema with the trading mode's.
    mode = serializers.CharField(default="quick", max_length=16, help_text=f"One of {', '.join(MODES)}.")
    only = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, help_text="Validators or groups to run."
    )
    account = serializers.IntegerField(
        required=False, min_value=1, help_text="Validate this account's active configuration."
    )


class CheckResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    check_id = serializers.CharField()
    status = serializers.CharField()
    blocking = serializers.BooleanField()
    details = serializers.CharField()
    evidence = serializers.JSONField()
    duration_seconds = serializers.FloatField()
    finished_at = serializers.DateTimeField()


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mode = serializers.CharField()
    status = serializers.CharField()
    decision = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    trigger = serializers.CharField()
    actor = serializers.CharField()
    account = serializers.IntegerField(source="account_id", allow_null=True)
    checks_planned = serializers.ListField(child=serializers.CharField())
    code_version = serializers.CharField()
    config_hash = serializers.CharField()
    criteria_sha256 = serializers.CharField()
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
    decision = serializers.CharField()
    config_hash = serializers.CharField()
    run = serializers.IntegerField(source="run_id", allow_null=True)
    score = serializers.FloatField()
    checklist = serializers.JSONField()
    blocking_issues = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    recommendation = serializers.CharField()
    decided_by = serializers.CharField()
    decided_at = serializers.DateTimeField()
    overrides = serializers.IntegerField(source="overrides_id", allow_null=True)
    override_reason = serializers.CharField()


class DecideSerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1)
    run = serializers.IntegerField(min_value=1, required=False)


class OverrideSerializer(serializers.Serializer):
    decision = serializers.CharField(max_length=8, help_text=f"One of {', '.join(Decision.values)}.")
    reason = serializers.CharField(min_length=10, max_length=2000)


class TrendPointSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    at = serializers.DateTimeField()
    status = serializers.CharField()
    passed = serializers.IntegerField()
    duration_seconds = serializers.FloatField()
    figures = serializers.JSONField()
