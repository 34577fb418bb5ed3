import re
import uuid

import structlog
from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired

_CORRELATION_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class LoginRequiredMiddleware(_DjangoLoginRequired):
    """Every page needs a login (SPEC S1). The API authenticates in DRF itself (tokens or
    session) and answers 401/403 JSON instead of a redirect, so it is left to DRF here."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class CorrelationIdMiddleware:
    """Binds a correlation id to every log line of a request (SPEC M3); echoed back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Correlation-ID", "")
        correlation_id = incoming if _CORRELATION_RE.match(incoming) else uuid.uuid4().hex
        request.correlation_id = correlation_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        response = self.get_response(request)
        response["X-Correlation-ID"] = correlation_id
        return response
