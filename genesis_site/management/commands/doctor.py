import json

from django.core.management.base import BaseCommand, CommandError

from genesis_site.health import readiness


class Command(BaseCommand):
    help = "Print the readiness report of /readyz; exits non-zero when not ready."

    def handle(self, *args, **options):
        report = readiness()
        self.stdout.write(json.dumps(report, indent=2))
        if not report["ready"]:
            raise CommandError("not ready: " + ", ".join(k for k, v in report["checks"].items() if not v["ok"]))
