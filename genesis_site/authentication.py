from django.utils import timezone
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
