from django.contrib import admin

from compliance.models import AuditEvent


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
