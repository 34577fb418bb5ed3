from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from validation.criteria import MODES, criteria_load
from validation.exceptions import ValidationDomainError
from validation.golive import golive_decide
from validation.models import Decision
from validation.reports import report_render
from validation.services import validation_run_now


class Command(BaseCommand):
    help = (
        "Run the validation suite (SPEC V6) and print a report. Exits 1 on NO-GO: any blocking check "
        "failed or not measured (with --golive: the go-live decision for the account is NO-GO)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--mode", choices=MODES, default="standard")
        parser.add_argument("--only", action="append", help="a validator or group (repeatable)")
        parser.add_argument("--format", choices=("text", "json", "html"), default="text")
        parser.add_argument("--output", type=Path, help="write the report to this file as well")
        parser.add_argument("--account", type=int, help="validate this account's active configuration")
        parser.add_argument("--golive", action="store_true", help="also record the go-live decision for --account")
        parser.add_argument("--criteria", type=Path, help="criteria file (default validation/criteria.yaml)")
        parser.add_argument("--trigger", choices=("cli", "ci", "schedule"), default="cli")

    def handle(self, *args, mode, only, format, output, account, golive, criteria, trigger, **options):
        if golive and account is None:
            raise CommandError("--golive needs --account")
        try:
            loaded = criteria_load(criteria)
            run = validation_run_now(
                mode=mode,
                only=only,
                actor=Actor.system(f"manage.py validate ({trigger})"),
                trigger=trigger,
                account_id=account,
                criteria=loaded,
            )
            decision = (
                golive_decide(
                    account_id=account, actor=Actor.system("manage.py validate"), run_id=run.pk, criteria=loaded
                )
                if golive
                else None
            )
        except ValidationDomainError as exc:
            raise CommandError(str(exc)) from None
        text = report_render(run=run, fmt=format, decision=decision)
        if output:
            output.write_text(text)
        self.stdout.write(text)
        verdict = decision.decision if decision else run.decision
        if verdict != Decision.GO:
            raise CommandError(
                f"NO-GO: validation run {run.pk}" + (f", go-live decision {decision.pk}" if decision else "")
            )
