"""Who may start validation runs, ask for a go-live decision and override one (SPEC V5, S1).
Override is a dangerous command of its own: admins only. Every role may read runs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

START = ["start_validation", "decide_golive"]
GRANTS = {
    "viewer": [],
    "operator": START,
    "risk_manager": START,
    "compliance_officer": START,
    "legal": [],
    "admin": [*START, "override_golive"],
}
READ = ["view_validationrun", "view_checkresult", "view_golivedecision"]


def grant(apps, schema_editor):
    config = apps.get_app_config("validation")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        perms = Permission.objects.filter(content_type__app_label="validation", codename__in=codenames + READ)
        group.permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("validation", "0002_golive_decision"),
        ("genesis_site", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
