"""API plumbing shared by every app: one error shape, the unauthenticated ping."""

import logging

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from compliance.exceptions import ComplianceError
from risk.exceptions import ConfigInvalid, RiskError, RiskRefused
from trading.exceptions import IllegalTransition, TradingError

logger = logging.getLogger(__name__)

# Domain errors -> HTTP status. Anything not listed is a 400.
DOMAIN_STATUS = {
    IllegalTransition: status.HTTP_409_CONFLICT,
    RiskRefused: status.HTTP_409_CONFLICT,
    ConfigInvalid: status.HTTP_400_BAD_REQUEST,
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    """The one error shape of the API: {"error": {"code", "message", "fields"?}}."""
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and detail and isinstance(detail[0], dict | list):
        out = {}
        for i, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}[{i}]"))
        return out
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(item) for item in items]}


def exception_handler(exc, context):
    if isinstance(exc, TradingError | RiskError | ComplianceError):
        fields = {"policy": exc.errors} if isinstance(exc, ConfigInvalid) else None
        code = DOMAIN_STATUS.get(type(exc), status.HTTP_400_BAD_REQUEST)
        return Response(error_body(exc.code, str(exc), fields), status=code)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable", exc_info=exc)
        return Response(
            error_body("database_unavailable", "The database is unavailable; retry shortly."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        if isinstance(exc, DatabaseError):
            logger.exception("database error in API view")
        else:
            logger.exception("unhandled error in API view")
        return Response(
            error_body("server_error", "Internal error; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
        response.data = error_body("invalid", message, fields)
    else:
        code = getattr(exc, "default_code", "error")
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(str(getattr(detail, "code", code) or code), str(detail))
    return response


@extend_schema(
    summary="Liveness for uptime monitors; needs no credentials and reveals nothing else.",
    responses=inline_serializer("Ping", {"status": serializers.CharField()}),
)
@api_view(["GET", "HEAD"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def ping(request):
    return Response({"status": "ok"})
