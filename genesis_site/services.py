from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from genesis_site.domain_errors import Conflict
from genesis_site.models import BotToken, Deployment, DeploymentHealth, Heartbeat


def heartbeat_record(*, name: str) -> None:
    """Upsert the named heartbeat to now."""
    Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})


def bot_token_create(*, name: str, user, days: int) -> str:
    """Create a token for `user` valid for `days`; returns the raw token, which is not stored."""
    raw = BotToken.generate_key()
    BotToken.objects.create(
        name=name,
        user=user,
        prefix=raw[:8],
        key_hash=BotToken.hash_key(raw),
        expires_at=timezone.now() + timedelta(days=days),
    )
    return raw


def bot_token_revoke(*, name: str) -> bool:
    """Revoke the token `name`: refused from the next request on, in every web process (the
    API's token check keeps no token past genesis_site.authentication.bot_tokens_changed)."""
    from genesis_site.authentication import bot_tokens_changed

    revoked = bool(BotToken.objects.filter(name=name, revoked_at=None).update(revoked_at=timezone.now()))
    if revoked:
        bot_tokens_changed()
    return revoked


# --- deployments (SPEC M4) -------------------------------------------------------------------


class DeploymentInvalid(Exception):
    code = "deployment_invalid"


class DeploymentConflict(DeploymentInvalid, Conflict):
    """The account or deployment is not in a state this step applies to."""

    code = "deployment_conflict"


def deployment_record(*, account, version: str, actor, reason: str = "") -> Deployment:
    """Record a deployment of code `version` running the account's active configuration."""
    from compliance.services import audit_append
    from risk.selectors import config_version_active

    if not version.strip():
        raise DeploymentInvalid("version: required (git sha or image tag)")
    config = config_version_active(account_id=account.pk)
    if config is None:
        raise DeploymentConflict(f"account: {account.name} has no active configuration to deploy with")
    with transaction.atomic():
        deployment = Deployment.objects.create(
            account=account,
            version=version,
            config_version=config,
            config_hash=config.sha256,
            deployed_by=actor.name,
            reason=reason,
        )
        audit_append(
            actor=actor,
            action="deployment.recorded",
            obj=deployment,
            payload={"account": account.pk, "version": version, "config_version": config.version, "reason": reason},
        )
    return deployment


def _last_healthy(deployment: Deployment) -> Deployment | None:
    return (
        Deployment.objects.filter(account_id=deployment.account_id, health=DeploymentHealth.HEALTHY)
        .filter(deployed_at__lt=deployment.deployed_at)
        .exclude(pk=deployment.pk)
        .select_related("config_version")
        .first()
    )


def deployment_health_record(*, deployment_id: int, healthy: bool, detail: dict, actor) -> Deployment:
    """Record the post-deploy health check. An unhealthy deployment rolls the configuration
    back to the last healthy deployment's version when it differs (automated rollback)."""
    from compliance.services import audit_append

    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
        if deployment.health != DeploymentHealth.PENDING:
            raise DeploymentConflict(f"deployment {deployment.pk} is already {deployment.health}")
        deployment.health = DeploymentHealth.HEALTHY if healthy else DeploymentHealth.UNHEALTHY
        deployment.health_detail, deployment.checked_at = detail, timezone.now()
        deployment.save(update_fields=["health", "health_detail", "checked_at"])
        audit_append(
            actor=actor,
            action=f"deployment.{deployment.health}",
            obj=deployment,
            payload={"account": deployment.account_id, "version": deployment.version, "detail": detail},
        )
    if not healthy:
        return deployment_rollback(deployment_id=deployment.pk, actor=actor, reason="automated: health checks failed")
    return deployment


def deployment_rollback(*, deployment_id: int, actor, reason: str) -> Deployment:
    """Roll the account's configuration back to the last healthy deployment's version, through
    risk.services.config_version_rollback (audited as a rollback)."""
    from risk.services.config import config_version_rollback

    deployment = Deployment.objects.select_related("account", "config_version").get(pk=deployment_id)
    target = _last_healthy(deployment)
    if target is None:
        raise DeploymentConflict(f"deployment {deployment.pk}: no earlier healthy deployment to roll back to")
    with transaction.atomic():
        active = deployment.account.config_versions.filter(is_active=True).first()
        if active is None or active.pk != target.config_version_id:
            config_version_rollback(
                account=deployment.account,
                version=target.config_version.version,
                actor=actor,
                reason=f"deployment {deployment.pk} ({deployment.version}) rolled back: {reason}",
            )
        Deployment.objects.filter(pk=deployment.pk).update(
            health=DeploymentHealth.ROLLED_BACK, rolled_back_to=target.config_version
        )
    deployment.refresh_from_db()
    return deployment
