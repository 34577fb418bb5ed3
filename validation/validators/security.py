"""Security (SEC-001..004): secrets in the tree and in git history (detect-secrets), known
vulnerable dependencies (when a vulnerability database is reachable), bandit and Django's
`check --deploy` with production settings, and credentials encrypted at rest."""

import base64
import binascii
import importlib.util
import json
import os
import re
import secrets as pysecrets
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from django.apps import apps
from django.db import models

from validation.validators import register
from validation.validators.base import BaseValidator, Context, Result, skipped, verdict

SEVERITY_ORDER = {"LOW": 1, "MEDIUM": 2, "HIGH": 3}
PLAINTEXT_CREDENTIAL_NAMES = {"api_key", "api_secret", "secret", "secret_key", "private_key", "passphrase", "token"}


def _git(base_dir: Path, *args: str, timeout: float = 120) -> str | None:
    if shutil.which("git") is None or not (base_dir / ".git").exists():
        return None
    proc = subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607
        cwd=base_dir,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )
    return proc.stdout if proc.returncode == 0 else None


def _tree_files(base_dir: Path, exclude: list[re.Pattern]) -> list[str]:
    listed = _git(base_dir, "ls-files", "--cached", "--others", "--exclude-standard")
    if listed is None:
        names = [str(p.relative_to(base_dir)) for p in base_dir.rglob("*") if p.is_file()]
    else:
        names = listed.splitlines()
    return [n for n in names if not any(p.search(n) for p in exclude) and (base_dir / n).is_file()]


def _baseline(base_dir: Path, name: str) -> dict[str, set[str]]:
    """Audited false positives: file -> hashed secrets (never the secrets themselves)."""
    path = base_dir / name
    if not path.is_file():
        return {}
    results = json.loads(path.read_text()).get("results", {})
    return {f: {item["hashed_secret"] for item in items} for f, items in results.items()}


def scan_tree(base_dir: Path, exclude: list[re.Pattern], allowed: dict[str, set[str]]) -> tuple[list[dict], int]:
    files = _tree_files(base_dir, exclude)
    found = []
    for filename, secret in _scan(base_dir, files):
        if secret.secret_hash in allowed.get(filename, set()):
            continue
        found.append(
            {"where": f"{filename}:{secret.line_number}", "type": secret.type, "hash": secret.secret_hash[:12]}
        )
    return found, len(files)


def _added_lines(log: str, exclude: list[re.Pattern]) -> dict[tuple[str, str], list[str]]:
    """(commit, file) -> the lines that commit added to that file."""
    added: dict[tuple[str, str], list[str]] = {}
    commit, filename = "", ""
    for line in log.splitlines():
        if line.startswith("commit "):
            commit = line[7:]
        elif line.startswith("+++ "):
            filename = line[6:] if line.startswith("+++ b/") else ""
        elif line.startswith("+") and filename and not any(p.search(filename) for p in exclude):
            added.setdefault((commit, filename), []).append(line[1:])
    return added


def scan_history(
    base_dir: Path, exclude: list[re.Pattern], allowed: dict[str, set[str]], max_commits: int
) -> tuple[list[dict], int] | None:
    """Every line ever added by a commit in the history of the checked-out code. Each commit's
    additions to a file are scanned as a file of the same name, so detect-secrets applies the
    same file-type rules and filters as to the tree."""
    log = _git(
        base_dir,
        "log",
        "HEAD",
        f"--max-count={max_commits}",
        "-p",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--format=commit %H",
        timeout=600,
    )
    if log is None:
        return None
    added = _added_lines(log, exclude)
    commits = len({commit for commit, _ in added})
    allowed_any = set().union(*allowed.values()) if allowed else set()
    with tempfile.TemporaryDirectory(prefix="genesis-secrets-") as tmp:
        root = Path(tmp)
        for (commit, filename), lines in added.items():
            path = root / commit[:12] / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")
        names = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
        found = []
        for name, secret in _scan(root, names):
            commit, _, filename = name.partition("/")
            if secret.secret_hash not in allowed_any:
                found.append({"where": f"{commit}:{filename}", "type": secret.type, "hash": secret.secret_hash[:12]})
    return _dedupe(found), commits


def _scan(root: Path, files: list[str]):
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    collection = SecretsCollection(root=str(root))
    cwd = os.getcwd()
    with default_settings():
        try:
            os.chdir(root)  # detect-secrets reports paths relative to the working directory
            collection.scan_files(*files, num_processors=1)
        finally:
            os.chdir(cwd)
    return list(collection)


def _dedupe(found: list[dict]) -> list[dict]:
    seen, out = set(), []
    for item in found:
        key = (item["where"], item["hash"])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


@register
class SecretsValidator(BaseValidator):
    name = "secrets"
    check_id = "SEC-001"
    group = "security"
    description = "No secrets in the working tree or the git history (detect-secrets)"
    parallel_safe = False  # CPU heavy

    def measure(self, ctx: Context) -> Result:
        if importlib.util.find_spec("detect_secrets") is None:
            return skipped("detect-secrets is not installed (requirements/dev.txt)")
        crit = ctx.criteria.security
        exclude = [re.compile(p) for p in crit.exclude]
        allowed = _baseline(ctx.base_dir, crit.baseline_file)
        found, files = scan_tree(ctx.base_dir, exclude, allowed)
        figures = {"files_scanned": files, "tree_findings": len(found)}
        evidence = {"tree": found[:100]}
        problems = [f"possible secret ({f['type']}) at {f['where']}" for f in found[:20]]
        warnings = []
        if ctx.mode.secrets_history:
            history = scan_history(ctx.base_dir, exclude, allowed, crit.history_max_commits)
            if history is None:
                warnings.append("git history not scanned: not a git checkout")
            else:
                hist, commits = history
                figures |= {"commits_scanned": commits, "history_findings": len(hist)}
                evidence["history"] = hist[:100]
                problems += [f"possible secret ({f['type']}) in history at {f['where']}" for f in hist[:20]]
        else:
            warnings.append(f"git history not scanned in {ctx.mode_name} mode")
        evidence["figures"] = figures
        ok = f"no secrets in {files} files" + (
            f" or {figures.get('commits_scanned')} commits" if "commits_scanned" in figures else ""
        )
        return verdict(problems, warnings, ok, evidence)


@register
class DependenciesValidator(BaseValidator):
    name = "dependencies"
    check_id = "SEC-002"
    group = "security"
    description = "No known critical or high vulnerabilities in the pinned dependencies (pip-audit)"

    def measure(self, ctx: Context) -> Result:
        if importlib.util.find_spec("pip_audit") is None:
            return skipped("no vulnerability database reachable: pip-audit is not installed and the run has no network")
        requirements = ctx.base_dir / "requirements" / "base.txt"
        proc = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "pip_audit",
                "-r",
                str(requirements),
                "--format",
                "json",
                "--progress-spinner",
                "off",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            return skipped(f"no vulnerability database reachable: pip-audit said {proc.stderr.strip()[-300:]}")
        vulns = [
            {"package": d["name"], "version": d["version"], "id": v["id"]}
            for d in report.get("dependencies", [])
            for v in d.get("vulns", [])
        ]
        t = ctx.criteria.thresholds
        # pip-audit gives no severity: every known vulnerability counts as high.
        problems = (
            [f"{len(vulns)} known vulnerabilities (limit {t.high_vulnerabilities})"]
            if len(vulns) > t.high_vulnerabilities
            else []
        )
        return verdict(
            problems,
            [],
            "no known vulnerabilities",
            {"vulnerabilities": vulns, "figures": {"vulnerabilities": len(vulns)}},
        )


def run_bandit(base_dir: Path, targets: list[str]) -> dict | None:
    if importlib.util.find_spec("bandit") is None:
        return None
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bandit", "-q", "-r", *targets, "-x", "*/migrations/*", "-f", "json"],
        cwd=base_dir,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return json.loads(proc.stdout)


def check_deploy(base_dir: Path) -> tuple[bool, str]:
    """Django's deployment checks with the production settings, in a child process, with a
    throwaway SECRET_KEY (production has no default)."""
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="genesis_site.settings.prod", DJANGO_SECRET_KEY=pysecrets.token_urlsafe(50)
    )
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=base_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()[-2000:]


@register
class CodeSecurityValidator(BaseValidator):
    name = "code_security"
    check_id = "SEC-003"
    group = "security"
    description = "bandit finds nothing above the allowed severity; check --deploy clean with production settings"
    parallel_safe = False

    def measure(self, ctx: Context) -> Result:
        # Both are child processes and neither is timed: check --deploy runs beside bandit.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="check-deploy") as pool:
            deploy = pool.submit(check_deploy, ctx.base_dir) if (ctx.base_dir / "manage.py").is_file() else None
            return self._judge(ctx, deploy)

    def _judge(self, ctx: Context, deploy: Future | None) -> Result:
        crit = ctx.criteria.security
        problems, warnings, evidence = [], [], {}
        report = run_bandit(ctx.base_dir, [t for t in crit.bandit_targets if (ctx.base_dir / t).exists()])
        if report is None:
            return skipped("bandit is not installed (requirements/dev.txt)")
        limit = SEVERITY_ORDER[crit.bandit_max_severity]
        findings = [
            {"where": f"{r['filename']}:{r['line_number']}", "test": r["test_id"], "severity": r["issue_severity"]}
            for r in report.get("results", [])
        ]
        evidence["bandit"] = findings[:100]
        for f in findings:
            if SEVERITY_ORDER.get(f["severity"], 3) > limit:
                problems.append(f"bandit {f['test']} ({f['severity']}) at {f['where']}")
            elif f["severity"] != "LOW":
                warnings.append(f"bandit {f['test']} ({f['severity']}) at {f['where']}")
        if deploy is not None:
            ok, output = deploy.result()
            evidence["check_deploy"] = output
            if not ok:
                problems.append(
                    f"check --deploy with production settings fails: {output.splitlines()[-1] if output else ''}"
                )
        else:
            warnings.append("check --deploy not run: no manage.py in the checked tree")
        evidence["figures"] = {"bandit_findings": len(findings)}
        return verdict(problems, warnings, f"bandit: {len(findings)} low findings; check --deploy clean", evidence)


def looks_encrypted(value: str) -> bool:
    """A Fernet token: url-safe base64 of version byte 0x80, timestamp, IV, ciphertext, HMAC."""
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= 57 and raw[0] == 0x80


def _credential_fields() -> tuple[list[tuple], list[str]]:
    encrypted, plaintext = [], []
    for model in apps.get_models():
        if model._meta.app_label in ("auth", "admin", "sessions", "contenttypes"):
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.CharField | models.TextField):
                continue
            if field.name.endswith("_encrypted"):
                encrypted.append((model, field.name))
            elif field.name in PLAINTEXT_CREDENTIAL_NAMES:
                plaintext.append(f"{model._meta.label}.{field.name}")
    return encrypted, plaintext


class _Rollback(Exception):
    pass


def storage_probe() -> tuple[list[str], dict]:
    """Store a throwaway credential through the real storage path in a transaction that is
    always rolled back, and read what reached the table with raw SQL: each column must be a
    Fernet token, must not contain the plaintext, and must decrypt back to it."""
    from django.db import connection, transaction

    from compliance.services import Actor
    from genesis_site import secrets as crypto
    from trading.models import ExchangeCredential, TradingAccount
    from trading.services.credentials import credential_store

    api_key, secret = pysecrets.token_hex(16), pysecrets.token_hex(32)
    problems, seen = [], {}
    table = connection.ops.quote_name(ExchangeCredential._meta.db_table)
    try:
        with transaction.atomic():
            account = TradingAccount.objects.create(
                name="validation-probe-credentials", starting_balance=Decimal("1000"), cash_balance=Decimal("1000")
            )
            stored = credential_store(
                account=account, api_key=api_key, secret=secret, actor=Actor.system("validation"), reason="probe"
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT api_key_encrypted, secret_encrypted FROM {table} WHERE id = %s",  # noqa: S608  # nosec B608: quoted table name of our model
                    [stored.pk],
                )
                raw = dict(zip(("api_key_encrypted", "secret_encrypted"), cursor.fetchone(), strict=True))
            for (column, value), plain in zip(raw.items(), (api_key, secret), strict=True):
                seen[column] = "fernet" if looks_encrypted(value) else "not a Fernet token"
                if plain in value or not looks_encrypted(value):
                    problems.append(f"a stored {column} reached the table unencrypted")
                elif crypto.decrypt(value) != plain:
                    problems.append(f"a stored {column} does not decrypt back to what was stored")
            raise _Rollback
    except _Rollback:
        pass
    return problems, {"storage_probe": seen}


@register
class CredentialsValidator(BaseValidator):
    name = "credentials"
    check_id = "SEC-004"
    group = "security"
    description = "Exchange credentials and webhook secrets are stored only encrypted (Fernet)"

    def measure(self, ctx: Context) -> Result:
        encrypted, plaintext = _credential_fields()
        problems = [f"{name} looks like a credential stored in plain text" for name in plaintext]
        checked, evidence = 0, {"encrypted_fields": [f"{m._meta.label}.{f}" for m, f in encrypted]}
        for model, field in encrypted:
            for pk, value in model.objects.exclude(**{field: ""}).values_list("pk", field).iterator():
                checked += 1
                if not looks_encrypted(value):
                    problems.append(f"{model._meta.label} id {pk}: {field} is not a Fernet token")
        has_exchange_model = any("credential" in m._meta.model_name for m, _ in encrypted) or any(
            "credential" in m._meta.model_name for m in apps.get_models()
        )
        evidence["figures"] = {"values_checked": checked}
        if not has_exchange_model and not problems:
            return skipped(
                f"no exchange credential model exists yet ({checked} other encrypted values "
                "checked, all Fernet tokens)",
                **evidence,
            )
        probe_problems, probe_evidence = storage_probe()
        problems += probe_problems
        evidence |= probe_evidence
        ok = f"a credential stored now reaches the table encrypted; {checked} stored secrets, every one a Fernet token"
        return verdict(problems, [], ok, evidence)
