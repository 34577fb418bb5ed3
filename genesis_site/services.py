from datetime import timedelta

from django.utils import timezone

from genesis_site.models import BotToken, Heartbeat


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
    return bool(BotToken.objects.filter(name=name, revoked_at=None).update(revoked_at=timezone.now()))
