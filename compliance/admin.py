from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied

from compliance.exceptions import SignOffRefused
from compliance.models import AuditEvent, Purge, RetentionPolicy, SignOff
from compliance.services import signoff_record, signoff_validate


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records are read in admin, never written there."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "ts", "actor_type", "actor", "action", "object_type", "object_id", "correlation_id")
    list_filter = ("actor_type", "action", "object_type")
    search_fields = ("actor", "action", "object_id", "correlation_id", "hash")
    ordering = ("-sequence",)


class SignOffForm(forms.ModelForm):
    """Validated by the same function the service runs, so admin refusals read the same."""

    class Meta:
        model = SignOff
        fields = ("account", "subject", "subject_ref", "role", "decision", "comment")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            signoff_validate(
                account=data["account"],
                subject=data["subject"],
                role=data["role"],
                decision=data["decision"],
                comment=data.get("comment", ""),
                user=self.user,
            )
        except PermissionDenied as exc:
            raise forms.ValidationError({"role": str(exc)}) from None
        except SignOffRefused as exc:
            field, _, message = str(exc).partition(": ")
            target = field if field in self.fields and message else None
            raise forms.ValidationError({target: message} if target else str(exc)) from None
        return data


@admin.register(SignOff)
class SignOffAdmin(admin.ModelAdmin):
    """Compliance officers track sign-offs here (SPEC C2, O4). Rows are added through the
    sign-off service and never edited or deleted: the list is the full history."""

    form = SignOffForm
    list_display = ("signed_at", "account", "subject", "subject_ref", "role", "decision", "signed_by", "short_hash")
    list_filter = ("subject", "role", "decision", "account", "signed_at")
    search_fields = ("subject_ref", "comment", "signed_by__username", "config_hash")
    date_hierarchy = "signed_at"
    readonly_fields = ("config_hash", "signed_by", "signed_at")

    @admin.display(description="config")
    def short_hash(self, obj):
        return obj.config_hash[:12]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.user = request.user
        return form

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = signoff_record(
            account=data["account"],
            subject=data["subject"],
            subject_ref=data["subject_ref"],
            role=data["role"],
            decision=data["decision"],
            comment=data["comment"],
            user=request.user,
        )
        obj.pk, obj.config_hash, obj.signed_by, obj.signed_at = (
            created.pk,
            created.config_hash,
            request.user,
            created.signed_at,
        )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("record_type", "keep_days", "enabled")


@admin.register(Purge)
class PurgeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "record_type", "cutoff", "rows", "archive_path", "archive_sha256")
    list_filter = ("record_type",)
