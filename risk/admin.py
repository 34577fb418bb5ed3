from django.contrib import admin

from compliance.admin import ReadOnlyAdmin
from risk.models import ConfigVersion


@admin.register(ConfigVersion)
class ConfigVersionAdmin(ReadOnlyAdmin):
    list_display = ("account", "version", "sha256", "is_active", "author", "created_at")
    list_filter = ("is_active", "account")
    search_fields = ("sha256", "reason")
