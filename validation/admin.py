from django.contrib import admin

from compliance.admin import ReadOnlyAdmin
from validation.models import CheckResult, GoLiveDecision, ValidationRun


class CheckResultInline(admin.TabularInline):
    model = CheckResult
    extra = 0
    can_delete = False
    readonly_fields = ("check_id", "name", "status", "blocking", "duration_seconds", "details")
    fields = readonly_fields


@admin.register(ValidationRun)
class ValidationRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "mode", "status", "decision", "trigger", "started_by", "started_at", "config_hash")
    list_filter = ("mode", "status", "decision", "trigger")
    inlines = [CheckResultInline]


@admin.register(GoLiveDecision)
class GoLiveDecisionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "account", "decision", "score", "short_hash", "decided_by", "decided_at", "overrides")
    list_filter = ("decision", "account")
    search_fields = ("config_hash", "decided_by", "override_reason")
    filter_horizontal = ()
    readonly_fields = ("signoffs",)

    @admin.display(description="config")
    def short_hash(self, obj):
        return obj.config_hash[:12]
