from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.head import HeadInvalid, audit_head_read
from compliance.selectors import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Verify the audit hash chain, and that it still holds the exported (signed) chain head; "
        "exits non-zero naming the first broken sequence."
    )

    def add_arguments(self, parser):
        parser.add_argument("--head", type=Path, help="exported head file (default: GENESIS_AUDIT_HEAD_PATH)")
        parser.add_argument("--no-head", action="store_true", help="verify the chain alone")

    def handle(self, *args, head, no_head, **options):
        try:
            anchor = None if no_head else audit_head_read(head)
        except HeadInvalid as exc:
            raise CommandError(str(exc)) from None
        result = audit_chain_verify(anchor=anchor)
        if not result.ok:
            raise CommandError(
                f"audit chain broken at sequence {result.first_broken_sequence}: {result.reason} "
                f"({result.checked} events verified before it)"
            )
        against = f", holds the exported head #{anchor.sequence}" if anchor else " (no exported head checked)"
        self.stdout.write(self.style.SUCCESS(f"audit chain ok: {result.checked} events{against}"))
