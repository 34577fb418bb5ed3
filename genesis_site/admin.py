from django.contrib import admin

from genesis_site.models import BotToken, Deployment, ErrorEvent, FailedTask, Heartbeat, SlackUser


@admin.register(BotToken)
class BotTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "expires_at", "revoked_at", "last_used_at")
    # Tokens are created and revoked by `manage.py bot_token`, which shows the secret once.
    readonly_fields = ("name", "user", "prefix", "key_hash", "created_at", "expires_at", "revoked_at", "last_used_at")

    def has_add_permission(self, request):
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "beat_at")


@admin.register(SlackUser)
class SlackUserAdmin(admin.ModelAdmin):
    list_display = ("slack_user_id", "slack_team_id", "user", "created_at")
    search_fields = ("slack_user_id", "user__username")
    autocomplete_fields = ("user",)


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("version", "account", "config_hash", "deployed_by", "deployed_at", "health")
    list_filter = ("health", "account")
    search_fields = ("version", "config_hash", "deployed_by")

    # Deployments are recorded and rolled back through the API and services (audited).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _ReadOnly(admin.ModelAdmin):
    """Written by the system; retried and discarded only through the dashboard and the API,
    which check the permission and audit the action."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ErrorEvent)
class ErrorEventAdmin(_ReadOnly):
    list_display = ("ts", "category", "severity", "source", "error_class", "correlation_id")
    list_filter = ("category", "severity", "level")
    search_fields = ("message", "correlation_id", "source", "error_class")


@admin.register(FailedTask)
class FailedTaskAdmin(_ReadOnly):
    list_display = ("task_name", "status", "category", "severity", "occurrences", "failed_at", "acted_by")
    list_filter = ("status", "category", "severity", "task_name")
    search_fields = ("task_name", "correlation_id", "exception")
