"""Each signing role's group gets its own sign-off permission (SPEC C2): a compliance officer
cannot sign as legal. Admins get all four."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "legal": ["sign_as_legal"],
    "compliance_officer": ["sign_as_compliance"],
    "risk_manager": ["sign_as_risk"],
    "operator": ["sign_as_operations"],
    "admin": ["sign_as_legal", "sign_as_compliance", "sign_as_risk", "sign_as_operations"],
}
SIGNERS_ALSO = ["add_signoff", "view_signoff", "view_auditevent"]


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; create ours now.
    config = apps.get_app_config("compliance")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        perms = Permission.objects.filter(content_type__app_label="compliance", codename__in=codenames + SIGNERS_ALSO)
        group.permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0004_audit_append_only_triggers"),
        ("genesis_site", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
