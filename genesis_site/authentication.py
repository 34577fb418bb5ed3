from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
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


def _failures_key(ip: str) -> str:
    return f"token-failures:{ip}"


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
        # Token guessing gets 429 once an IP has failed too often within the window.
        if (cache.get(_failures_key(client_ip(request))) or 0) >= settings.GENESIS_TOKEN_FAILURE_LIMIT:
            token_failure_record(request, "throttled")
            raise exceptions.Throttled(FAILURE_WINDOW_SECONDS, "Too many failed token attempts.")
        raw = parts[1].decode(errors="replace")
        token = BotToken.objects.select_related("user").filter(key_hash=BotToken.hash_key(raw)).first()
        if token is None or not token.is_usable or not token.user.is_active:
            why = "unknown" if token is None else ("revoked" if token.revoked_at else "expired or inactive user")
            token_failure_record(request, why)
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
            BotToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BotTokenScheme(OpenApiAuthenticationExtension):
    """Documents the bot token as an HTTP bearer scheme in the OpenAPI schema."""

    target_class = "genesis_site.authentication.BotTokenAuthentication"
    name = "botToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A bot token from `manage.py bot_token create`."}
