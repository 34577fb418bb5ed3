"""Compliance officers read the audit trail, config versions, validation runs, retention
policies and purges in admin (SPEC O4); the admin pages are read-only for those models."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWS = {
    "compliance": ["view_auditevent", "view_signoff", "view_retentionpolicy", "view_purge"],
    "risk": ["view_configversion"],
    "validation": ["view_validationrun", "view_checkresult"],
}


def grant(apps, schema_editor):
    for label in VIEWS:
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="compliance_officer")
    for label, codenames in VIEWS.items():
        group.permissions.add(*Permission.objects.filter(content_type__app_label=label, codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("genesis_site", "0002_roles"),
        ("compliance", "0005_signoff_role_permissions"),
        ("risk", "0001_initial"),
        ("validation", "0001_initial"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
