from django.contrib import admin

from compliance.admin import ReadOnlyAdmin
from validation.models import CheckResult, ValidationRun


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
