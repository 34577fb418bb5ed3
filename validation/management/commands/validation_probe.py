"""Internal: run by validation.probe in a child process against a scratch database. Prints one
JSON line of figures. Never run it against a real database: it migrates and writes."""

import json

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from validation import probes


class Command(BaseCommand):
    help = "Internal to the validation suite: measure the engine in a scratch database (prints JSON)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(probes.PROBES))
        parser.add_argument("--params", default="{}", help="JSON parameters of the probe")
        parser.add_argument("--no-migrate", action="store_true", help="measure the database as it is")

    def handle(self, *args, kind, params, no_migrate, **options):
        try:
            params = json.loads(params)
        except ValueError as exc:
            raise CommandError(f"--params: not JSON: {exc}") from None
        started = probes.now()
        if not no_migrate:
            call_command("migrate", verbosity=0, interactive=False)
        migrate_seconds = round(probes.now() - started, 3)
        figures = probes.PROBES[kind](**params)
        figures["migrate_seconds"] = migrate_seconds
        self.stdout.write(json.dumps(figures, default=str))
