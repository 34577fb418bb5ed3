from django.contrib import admin

from genesis_site.models import BotToken, Heartbeat


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
