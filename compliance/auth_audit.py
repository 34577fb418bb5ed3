"""Every authentication attempt is audited with its IP and never a secret (SPEC C1, S3).

Django's auth signals are the one place every login path (the login form, admin, the API's
session login) passes through, so the handlers hook there."""

from django.db import transaction

from compliance.services import Actor, audit_append


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it,
    # and uvicorn's proxy-headers handling already sets REMOTE_ADDR from a trusted proxy.
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def on_logged_in(sender, request, user, **kwargs) -> None:
    with transaction.atomic():
        audit_append(actor=Actor.from_user(user), action="auth.login", obj=user, payload={"ip": client_ip(request)})


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # `credentials` holds the password: only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    with transaction.atomic():
        audit_append(
            actor=Actor("user", username or "unknown"),
            action="auth.login_failed",
            payload={"username": username, "ip": client_ip(request)},
        )


def on_logged_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    with transaction.atomic():
        audit_append(actor=Actor.from_user(user), action="auth.logout", obj=user, payload={"ip": client_ip(request)})
