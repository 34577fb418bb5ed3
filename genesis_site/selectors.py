from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from genesis_site.models import Heartbeat


def heartbeats_fresh(*, prefix: str) -> tuple[bool, str | None]:
    """Whether a heartbeat whose name starts with `prefix` is younger than the stale limit."""
    latest = Heartbeat.objects.filter(name__startswith=prefix).order_by("-beat_at").first()
    if latest is None:
        return False, None
    limit = timedelta(seconds=settings.GENESIS_HEARTBEAT_STALE_SECONDS)
    return timezone.now() - latest.beat_at <= limit, latest.beat_at.isoformat()
