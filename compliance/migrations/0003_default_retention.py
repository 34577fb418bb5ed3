from django.db import migrations

# SPEC C5: orders and positions 1 year, metrics 90 days, error logs 30 days.
DEFAULTS = {"orders": 365, "positions": 365, "metrics": 90, "error_logs": 30}


def create_defaults(apps, schema_editor):
    RetentionPolicy = apps.get_model("compliance", "RetentionPolicy")
    for record_type, keep_days in DEFAULTS.items():
        RetentionPolicy.objects.get_or_create(record_type=record_type, defaults={"keep_days": keep_days})


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_purge_retentionpolicy_signoff")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
