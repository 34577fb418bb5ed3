from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from genesis_site.secrets import SecretDecryptError
from trading.services.credentials import credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every exchange credential under the newest key in GENESIS_FERNET_KEYS "
        "(prepend the new key, run this, then drop the old key). Audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("--actor", default="cli", help="who rotates, recorded in the audit trail")

    def handle(self, *args, actor, **options):
        try:
            count = credentials_rotate(actor=Actor("user", actor))
        except SecretDecryptError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"re-encrypted {count} exchange credentials under the newest key")
