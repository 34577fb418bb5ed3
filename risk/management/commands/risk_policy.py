from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from risk.exceptions import ConfigInvalid
from risk.models import ConfigVersion
from risk.policy import policy_check
from risk.selectors import config_version_active, config_version_diff
from risk.services import config_version_activate, config_version_create, config_version_rollback
from trading.management.accounts import account_for_command
from trading.models import TradingAccount


class Command(BaseCommand):
    help = "Validate, activate, roll back or diff risk policy versions (SPEC R1, R2). Every change is audited."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        validate = sub.add_parser("validate", help="check a policy file; lists every error and warning")
        validate.add_argument("file", type=Path)
        activate = sub.add_parser("activate", help="store a policy file as a new version and activate it")
        activate.add_argument("file", type=Path)
        rollback = sub.add_parser("rollback", help="re-activate an earlier version")
        rollback.add_argument("version", type=int)
        diff = sub.add_parser("diff", help="what changed between two versions")
        diff.add_argument("older", type=int)
        diff.add_argument("newer", type=int)
        for p in (activate, rollback, diff):
            p.add_argument("--account", required=True, help="account name")
        for p in (activate, rollback):
            p.add_argument("--reason", required=True)
            p.add_argument("--actor", default="cli", help="who acts, recorded in the audit trail")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except ConfigInvalid as exc:
            raise CommandError("refused:\n  " + "\n  ".join(exc.errors)) from None

    def _read(self, path: Path) -> str:
        try:
            return path.read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None

    def _account(self, name: str) -> TradingAccount:
        return account_for_command(name)

    def _validate(self, file, **options):
        check = policy_check(self._read(file))
        for warning in check.warnings:
            self.stdout.write(f"warning: {warning}")
        if check.errors:
            raise ConfigInvalid(check.errors)
        self.stdout.write(self.style.SUCCESS(f"{file}: valid"))

    def _activate(self, file, account, reason, actor, **options):
        who = Actor("user", actor)
        version = config_version_create(
            account=self._account(account), content=self._read(file), author=None, reason=reason, actor=who
        )
        config_version_activate(version=version, actor=who, reason=reason)
        self.stdout.write(f"v{version.version} {version.sha256} active")

    def _rollback(self, version, account, reason, actor, **options):
        target = config_version_rollback(
            account=self._account(account), version=version, actor=Actor("user", actor), reason=reason
        )
        self.stdout.write(f"v{target.version} {target.sha256} active")

    def _diff(self, older, newer, account, **options):
        versions = {
            v.version: v
            for v in ConfigVersion.objects.filter(account=self._account(account), version__in=[older, newer])
        }
        missing = [str(n) for n in (older, newer) if n not in versions]
        if missing:
            raise CommandError(f"no version {', '.join(missing)} on account {account!r}")
        diff = config_version_diff(versions[older], versions[newer])
        for change in diff["changes"]:
            self.stdout.write(f"{change['key']}: {change['from']} -> {change['to']}")
        if not diff["changes"]:
            self.stdout.write("no policy value changed")
        active = config_version_active(account_id=versions[older].account_id)
        self.stdout.write(f"(active: v{active.version})" if active else "(no active version)")
