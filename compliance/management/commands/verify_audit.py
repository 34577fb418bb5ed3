from django.core.management.base import BaseCommand, CommandError

from compliance.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit hash chain; exits non-zero naming the first broken sequence."

    def handle(self, *args, **options):
        result = audit_chain_verify()
        if not result.ok:
            raise CommandError(
                f"audit chain broken at sequence {result.first_broken_sequence}: {result.reason} "
                f"({result.checked} events verified before it)"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain ok: {result.checked} events"))
