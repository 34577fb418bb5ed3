from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from genesis_site.models import BotToken


class BotTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`, looked up by its SHA-256 (a high-entropy secret, so an
    indexed equality lookup of its hash leaks nothing useful through timing)."""

    keywords = ("bearer", "token")

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        raw = parts[1].decode(errors="replace")
        token = BotToken.objects.select_related("user").filter(key_hash=BotToken.hash_key(raw)).first()
        if token is None or not token.is_usable or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        BotToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BotTokenScheme(OpenApiAuthenticationExtension):
    """Documents the bot token as an HTTP bearer scheme in the OpenAPI schema."""

    target_class = "genesis_site.authentication.BotTokenAuthentication"
    name = "botToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A bot token from `manage.py bot_token create`."}
