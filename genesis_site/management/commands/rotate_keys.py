from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from compliance.services import Actor, audit_append
from genesis_site.secrets import SecretDecryptError, encrypted_fields, fernet_keys, primary_only_decrypts, rotate

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (fields named *_encrypted) under the newest key of "
        "GENESIS_FERNET_KEYS. Without downtime: deploy NEW,OLD everywhere first (MultiFernet reads "
        "both), run this, check with --verify, then drop OLD. Audited; never prints a secret."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--verify", action="store_true", help="change nothing; fail unless the newest key alone decrypts all"
        )
        parser.add_argument("--actor", default="cli", help="who rotates, recorded in the audit trail")

    def handle(self, *args, verify, actor, **options):
        if verify:
            return self._verify()
        total = 0
        for model, fields in encrypted_fields():
            count = self._rotate_model(model, fields)
            total += count
            self.stdout.write(f"{model._meta.label}: {count} values re-encrypted")
        with transaction.atomic():
            audit_append(
                actor=Actor("user", actor),
                action="secret.rotated",
                payload={"values": total, "keys_configured": len(fernet_keys())},
            )
        self.stdout.write(self.style.SUCCESS(f"rotated {total} values under the newest key"))

    def _rotate_model(self, model, fields: list[str]) -> int:
        pks = list(model.objects.order_by("pk").values_list("pk", flat=True))
        count = 0
        for start in range(0, len(pks), BATCH):
            with transaction.atomic():
                # Row locks: a concurrent write of a new secret is not overwritten with an old one.
                rows = list(model.objects.select_for_update().filter(pk__in=pks[start : start + BATCH]))
                for row in rows:
                    for field in fields:
                        value = getattr(row, field)
                        if value:
                            try:
                                setattr(row, field, rotate(value))
                            except SecretDecryptError:
                                raise CommandError(
                                    f"{model._meta.label} #{row.pk}.{field} does not decrypt with any configured key; "
                                    "nothing in this batch was changed"
                                ) from None
                            count += 1
                model.objects.bulk_update(rows, fields)
        return count

    def _verify(self) -> None:
        stale = []
        for model, fields in encrypted_fields():
            for pk, *values in model.objects.values_list("pk", *fields).iterator():
                stale += [
                    f"{model._meta.label} #{pk}.{f}"
                    for f, v in zip(fields, values, strict=True)
                    if v and not primary_only_decrypts(v)
                ]
        if stale:
            raise CommandError(f"{len(stale)} values still need the older keys, e.g. {', '.join(stale[:5])}")
        self.stdout.write(self.style.SUCCESS("every stored secret decrypts with the newest key alone"))
