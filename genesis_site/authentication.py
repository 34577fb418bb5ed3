import copy
import time
import uuid
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from compliance.auth_audit import client_ip
from compliance.services import Actor, audit_append
from genesis_site.models import BotToken

FAILURE_WINDOW_SECONDS = 60
# last_used_at is kept to this precision: a bot polling several times a second would otherwise
# write (and commit) its token row on every request.
LAST_USED_PRECISION = timedelta(seconds=60)


# A checked token is kept in the process for this long at most (see _Checked), to spare the API
# a database query per request; any change made through the ORM or `bot_token revoke` ends it
# at once in every process.
TOKEN_CACHE_SECONDS = 10
_GENERATION_KEY = "bot-tokens-generation"


def _failures_key(ip: str) -> str:
    return f"token-failures:{ip}"


class _Checked(NamedTuple):
    """A token row (and its user) read from the database while the tokens' generation in the
    shared cache was `generation`. It stands for the database only while that generation is
    still current (nothing about any token or user changed since) and for TOKEN_CACHE_SECONDS
    at most (the bound for a change that bypasses the ORM's signals, e.g. raw SQL)."""

    token: BotToken
    generation: str
    read_at: float


_checked: dict[str, _Checked] = {}  # by key hash; only this process's threads


def _cache_shared() -> bool:
    # Only a cache every process shares (Redis) can carry an invalidation to all of them; with
    # the per-process local-memory cache (embedded mode) every request reads the database.
    return getattr(cache, "shared_between_processes", False)


def bot_tokens_changed() -> None:
    """Every process forgets the tokens it has checked: call after a token or a user changed
    (revoked, expired early, deleted, deactivated, privileges changed). A new random
    generation, never a counter: a value a process may still hold never comes back."""
    if not _cache_shared():
        return
    cache.set(_GENERATION_KEY, uuid.uuid4().hex, None)
    # Once more when the change is visible to others: a request that read the row between the
    # first bump and the commit cached the old row under the first bump's generation.
    transaction.on_commit(lambda: cache.set(_GENERATION_KEY, uuid.uuid4().hex, None))


def _on_change(sender, update_fields=None, **kwargs):
    # A login stamps last_login on the user: nothing a token check reads, so no reason to
    # make every process read its tokens again (nor to make logins need the shared cache).
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    bot_tokens_changed()


post_save.connect(_on_change, sender=BotToken, dispatch_uid="bot-token-saved")
post_delete.connect(_on_change, sender=BotToken, dispatch_uid="bot-token-deleted")
post_save.connect(_on_change, sender=settings.AUTH_USER_MODEL, dispatch_uid="bot-token-user-saved")
post_delete.connect(_on_change, sender=settings.AUTH_USER_MODEL, dispatch_uid="bot-token-user-deleted")


def token_failure_record(request, why: str) -> None:
    """Count a failed token use against the client IP and audit it with the IP and the reason,
    never the token (SPEC S3)."""
    ip = client_ip(request)
    key = _failures_key(ip)
    if not cache.add(key, 1, FAILURE_WINDOW_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, FAILURE_WINDOW_SECONDS)
    with transaction.atomic():
        audit_append(actor=Actor("bot", "unknown"), action="auth.token_failed", payload={"ip": ip, "why": why})


class BotTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`, looked up by its SHA-256 (a high-entropy secret, so an
    indexed equality lookup of its hash leaks nothing useful through timing)."""

    keywords = ("bearer", "token")

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(parts) != 2:
            token_failure_record(request, "malformed header")
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        shared = _cache_shared()
        failures_key = _failures_key(client_ip(request))
        # One round trip for the failure count and the tokens' generation.
        found = cache.get_many([failures_key, _GENERATION_KEY]) if shared else {failures_key: cache.get(failures_key)}
        # Token guessing gets 429 once an IP has failed too often within the window.
        if (found.get(failures_key) or 0) >= settings.GENESIS_TOKEN_FAILURE_LIMIT:
            token_failure_record(request, "throttled")
            raise exceptions.Throttled(FAILURE_WINDOW_SECONDS, "Too many failed token attempts.")
        key_hash = BotToken.hash_key(parts[1].decode(errors="replace"))
        token = self._token(key_hash, found.get(_GENERATION_KEY) if shared else None)
        if token is None or not token.is_usable or not token.user.is_active:
            why = "unknown" if token is None else ("revoked" if token.revoked_at else "expired or inactive user")
            token_failure_record(request, why)
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
            BotToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        # Copies for this request: the permission caches Django's auth backend puts on the user
        # object must not outlive the request (roles change through the groups).
        user = copy.copy(token.user)
        token = copy.copy(token)
        token.user = user
        return user, token

    @staticmethod
    def _token(key_hash: str, generation: str | None) -> BotToken | None:
        """The token row with its user: from this process's recent check while `generation`
        (read from the shared cache at the start of this request) is the one it was read
        under, else from the database."""
        checked = _checked.get(key_hash)
        if (
            checked is not None
            and generation is not None
            and checked.generation == generation
            and time.monotonic() - checked.read_at < TOKEN_CACHE_SECONDS
        ):
            return checked.token
        token = BotToken.objects.select_related("user").filter(key_hash=key_hash).first()
        if generation is None:
            if _cache_shared():  # no generation yet (new or flushed cache): start one
                cache.add(_GENERATION_KEY, uuid.uuid4().hex, None)
            return token
        if token is None or not token.is_usable or not token.user.is_active:
            _checked.pop(key_hash, None)
        else:
            if len(_checked) > 10_000:  # tokens are few; never let guessing or churn grow it
                _checked.clear()
            _checked[key_hash] = _Checked(token, generation, time.monotonic())
        return token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BotTokenScheme(OpenApiAuthenticationExtension):
    """Documents the bot token as an HTTP bearer scheme in the OpenAPI schema."""

    target_class = "genesis_site.authentication.BotTokenAuthentication"
    name = "botToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A bot token from `manage.py bot_token create`."}
