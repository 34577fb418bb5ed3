import hashlib

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from compliance.services import Actor, audit_append
from risk.alerts import alert_raise
from risk.exceptions import ConfigConflict, ConfigInvalid, ConfigVersionNotFound
from risk.models import ConfigVersion
from risk.policy import policy_check
from risk.selectors import policy_of
from risk.tilt import policy_loosenings, recent_loosenings
from trading.live import account_changed


def config_version_create(*, account, content: str, author, reason: str, actor: Actor) -> ConfigVersion:
    """Validate and store a new immutable version (not yet active), with its warnings.
    Raises ConfigInvalid listing every problem; nothing is stored then."""
    check = policy_check(content)
    errors = check.errors + ([] if reason.strip() else ["reason: a reason is required for every configuration version"])
    if errors:
        raise ConfigInvalid(errors)
    digest = hashlib.sha256(content.encode()).hexdigest()
    with transaction.atomic():
        # Lock the account row: two concurrent creates must not both take the same number.
        type(account).objects.select_for_update().get(pk=account.pk)
        last = ConfigVersion.objects.filter(account=account).aggregate(n=Max("version"))["n"] or 0
        active = ConfigVersion.objects.filter(account=account, is_active=True).first()
        version = ConfigVersion.objects.create(
            account=account,
            version=last + 1,
            content=content,
            sha256=digest,
            author=author,
            reason=reason,
            parent=active,
            warnings=check.warnings,
        )
        audit_append(
            actor=actor,
            action="config.created",
            obj=version,
            payload={"account": account.pk, "version": version.version, "sha256": digest, "reason": reason},
            config_hash=active.sha256 if active else "",
        )
        account_changed(account_id=account.pk, kind="config", version=version.version, change="created")
    return version


def _tilt_check(version: ConfigVersion, previous: ConfigVersion | None, actor: Actor, approver: Actor | None):
    """The limits this activation loosens; refused when the actor is on tilt (SPEC R10) and no
    second person approves."""
    if previous is None:
        return []
    old_policy = policy_of(previous)
    loosened = policy_loosenings(old_policy, policy_of(version))
    if not loosened:
        return []
    done = recent_loosenings(account_id=version.account_id, actor_name=actor.name, now=timezone.now())
    limit = old_policy.tilt_max_loosenings_per_day
    if done >= limit:
        message = f"{actor.name} loosened limits {done} times in 24 h (limit {limit})"
        alert_raise(
            account_id=version.account_id,
            type="operator_tilt",
            message=message,
            details={"actor": actor.name, "loosened": loosened},
        )
        if approver is None or approver.name == actor.name:
            raise ConfigInvalid([f"approver: operator tilt: {message}; a second person must approve this loosening"])
    return loosened


def config_version_activate(
    *,
    version: ConfigVersion,
    actor: Actor,
    reason: str,
    action: str = "config.activated",
    approver: Actor | None = None,
) -> ConfigVersion:
    """Make `version` the account's only active version, audited with the limits it loosens.
    Rollback is this service applied to an earlier version, with action "config.rolled_back".
    An operator on tilt needs a second person (`approver`) for a further loosening."""
    # Before the transaction: a refusal must leave its tilt alert behind, not roll it back.
    current = ConfigVersion.objects.filter(account_id=version.account_id, is_active=True).first()
    loosened = _tilt_check(version, current, actor, approver)
    with transaction.atomic():
        type(version.account).objects.select_for_update().get(pk=version.account_id)
        previous = ConfigVersion.objects.filter(account_id=version.account_id, is_active=True).first()
        ConfigVersion.objects.filter(account_id=version.account_id, is_active=True).update(is_active=False)
        ConfigVersion.objects.filter(pk=version.pk).update(is_active=True)
        version.is_active = True
        audit_append(
            actor=actor,
            action=action,
            obj=version,
            payload={
                "account": version.account_id,
                "version": version.version,
                "reason": reason,
                "previous_version": previous.version if previous else None,
                "loosened": loosened,
                "approver": approver.name if approver else None,
            },
            config_hash=version.sha256,
        )
        account_changed(account_id=version.account_id, kind="config", version=version.version, change=action)
    return version


def config_version_rollback(
    *, account, version: int, actor: Actor, reason: str, approver: Actor | None = None
) -> ConfigVersion:
    """Re-activate an earlier version of the account's policy, audited as a rollback."""
    target = ConfigVersion.objects.filter(account=account, version=version).first()
    if target is None:
        raise ConfigVersionNotFound([f"version: account {account.name} has no version {version}"])
    if target.is_active:
        raise ConfigConflict([f"version: v{version} is already the active version"])
    if not reason.strip():
        raise ConfigInvalid(["reason: a rollback needs a reason"])
    return config_version_activate(
        version=target, actor=actor, reason=reason, action="config.rolled_back", approver=approver
    )
