"""Grant each role its dangerous-action permissions (genesis_site.roles.GRANTS, SPEC S1).
The table is copied here so that later edits to roles.py need a migration of their own."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "operator": {
        "trading": ["pause_entries", "halt_trading", "pause_strategy", "force_trade"],
        "risk": ["acknowledge_alert"],
    },
    "risk_manager": {
        "trading": [
            "pause_entries",
            "halt_trading",
            "pause_strategy",
            "force_trade",
            "flatten_positions",
            "release_stop",
        ],
        "risk": ["acknowledge_alert", "activate_config", "rollback_config"],
    },
    "admin": {
        "trading": [
            "pause_entries",
            "halt_trading",
            "pause_strategy",
            "force_trade",
            "flatten_positions",
            "release_stop",
            "change_mode",
        ],
        "risk": ["acknowledge_alert", "activate_config", "rollback_config"],
    },
}


def grant(apps, schema_editor):
    for label in ("trading", "risk"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, by_app in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for label, codenames in by_app.items():
            group.permissions.add(*Permission.objects.filter(content_type__app_label=label, codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("genesis_site", "0003_compliance_officer_views"),
        ("trading", "0006_action_permissions"),
        ("risk", "0008_action_permissions"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
