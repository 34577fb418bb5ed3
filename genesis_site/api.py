"""API plumbing shared by every app: one error shape, the unauthenticated ping."""

import logging
import re
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from django_filters.constants import EMPTY_VALUES
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.viewsets import GenericViewSet

from compliance.exceptions import ComplianceError
from compliance.services import Actor
from genesis_site.deadletter import FailedTaskConflict
from genesis_site.models import BotToken
from genesis_site.pagination import LimitOffsetPagination, count_fits_in_page
from genesis_site.prepared import Unpreparable, prepared, sentinel
from genesis_site.roles import ACTIONS, user_may
from genesis_site.secrets import SecretDecryptError
from genesis_site.services import DeploymentInvalid
from risk.exceptions import ConfigInvalid, RiskError
from trading.exceptions import TradingError
from trading.markets import UnknownMarket
from trading.selectors import accounts_visible_to
from validation.exceptions import ValidationDomainError

logger = logging.getLogger(__name__)


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


_FIELD_PREFIX = re.compile(r"^([a-z_]+): ")


def _field_of(message: str) -> dict | None:
    """Domain errors name their field or rule first ("reason: ..."): expose it as `fields`."""
    match = _FIELD_PREFIX.match(message)
    return {match.group(1): [message[match.end() :]]} if match else None


class InputUnprocessable(exceptions.ValidationError):
    """Well-formed input (per the schema) refused by a rule the schema cannot state, e.g. a
    range whose end is not after its start: 422, in the same shape as a 400."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


def exception_handler(exc, context):
    if isinstance(exc, UnknownMarket):
        # Well-formed (the schema's BASE/QUOTE pattern) but no such market: the list of markets
        # is the exchange's, not the schema's.
        return Response(
            error_body("unknown_market", f"symbol: {exc.args[0]}", {"symbol": [exc.args[0]]}),
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if isinstance(exc, SecretDecryptError):
        # Never the ciphertext, never the key: only that the stored secret is unusable.
        logger.error("stored secret does not decrypt with the configured keys")
        return Response(error_body("secret_unreadable", str(exc)), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(
        exc, TradingError | RiskError | ComplianceError | DeploymentInvalid | ValidationDomainError | FailedTaskConflict
    ):
        fields = {"policy": exc.errors} if isinstance(exc, ConfigInvalid) else _field_of(str(exc))
        # The kind an error mixes in (genesis_site.domain_errors): NotFound 404, Conflict 409,
        # Unprocessable 422; a domain error of no kind is bad input, 400.
        code = getattr(exc, "http_status", status.HTTP_400_BAD_REQUEST)
        return Response(error_body(exc.code, str(exc), fields), status=code)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable", exc_info=exc)
        return Response(
            error_body("database_unavailable", "The database is unavailable; retry shortly."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, Http404 | ObjectDoesNotExist):
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


# --- permissions, actors and documented error responses shared by every app's API ----------


class ActionPermission(BasePermission):
    """Allows a request only when its user holds the permission of `action` (SPEC S1), through
    genesis_site.roles.user_may, the one check the dashboard and ChatOps also ask."""

    action = ""

    def has_permission(self, request, view):
        if user_may(request.user, self.action):
            return True
        self.message = f"Your role may not {self.action.replace('_', ' ')}."
        return False


def may(action: str) -> type[ActionPermission]:
    """The permission class for one dangerous action, e.g. `permission_classes=[may("halt")]`."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")
    return type(f"May_{action}", (ActionPermission,), {"action": action})


def request_actor(request) -> Actor:
    """Who acts in the audit trail: a bot when the request came with a bot token."""
    return Actor.from_user(request.user, bot=isinstance(request.auth, BotToken))


ApiError = inline_serializer(
    "ApiError",
    {
        "error": inline_serializer(
            "ApiErrorBody",
            {
                "code": serializers.CharField(help_text="Stable machine-readable name of the error."),
                "message": serializers.CharField(help_text="What is wrong, naming the field or rule."),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()),
                    required=False,
                    help_text="Bad input: the messages for each field or parameter.",
                ),
            },
        )
    },
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ApiError, description=description)


READ_ERRORS = {
    400: _error("Bad input; `error.fields` names each bad parameter."),
    401: _error("No or invalid credentials."),
    403: _error("Not allowed."),
    404: _error("Not found, or not visible to you."),
    422: _error(
        "Well-formed, but refused by a rule the schema cannot state (an unknown market, a range "
        "running backwards, a policy rule); `error.fields` names the field."
    ),
    429: _error("Too many requests; retry after the `Retry-After` seconds."),
}
WRITE_ERRORS = {
    **READ_ERRORS,
    403: _error("Your role may not perform this action (or a session write without a CSRF token)."),
    409: _error("Refused by the state of the system (risk gate, illegal transition, stop level)."),
}


def plain(row: dict) -> dict:
    """A values() row made JSON-ready the lean way (SPEC §0: hot lists skip ModelSerializer):
    Decimals as plain decimal strings, datetimes as ISO 8601."""
    out = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            value = format(value.normalize(), "f") if value else "0"
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out


class AccountScopedViewSet(GenericViewSet):
    """Read endpoints on a shared base that limits every queryset to the accounts the user may
    see (trading.selectors.accounts_visible_to); `account_path` names the account relation.
    List endpoints render values() rows through `plain`, lean and fast."""

    account_path = "account"
    fields: tuple[str, ...] = ()
    renames: dict[str, str] = {}

    def get_queryset(self):
        return self._visible_to(self.request.user)

    def _visible_to(self, user):
        return self.queryset.filter(**{f"{self.account_path}__in": accounts_visible_to(user)})

    def row(self, row: dict) -> dict:
        row = plain(row)
        for old, new in self.renames.items():
            row[new] = row.pop(old)
        return row

    def list(self, request, *args, **kwargs):
        page = self._page_prepared(request)
        if page is None:
            rows = self.filter_queryset(self.get_queryset()).values(*self.fields)
            page = self.paginate_queryset(rows)
        return self.get_paginated_response([self.row(r) for r in page])

    def _page_prepared(self, request) -> "list[dict] | None":  # quoted: `list` is the action here
        """The page list() reads, by the same statement, compiled once per process and shape
        (genesis_site.prepared; the ORM's compiling was over half of a 50-row list's CPU).
        None (the ORM path) for a view scoped or filtered otherwise, a filter whose value is
        not an id or a plain string compared exactly (a date, a method), or a page that carries
        no count (empty, past the end)."""
        paginator = self.paginator
        if (
            type(self).get_queryset is not AccountScopedViewSet.get_queryset
            or list(self.filter_backends) != [DjangoFilterBackend]
            or not isinstance(paginator, LimitOffsetPagination)
        ):
            return None
        filters, given = self._filter_values(request)
        if given is None:
            return None
        paginator.request = request
        paginator.limit, paginator.offset = paginator.get_limit(request), paginator.get_offset(request)
        user = request.user
        superuser, names = bool(user.is_superuser), tuple(given)  # in the filters' order, as the ORM path

        def build():
            slots = {} if superuser else {"user": sentinel(int, 0)}
            stand_in = get_user_model()(pk=sentinel(int, 0), is_superuser=superuser, is_active=True)
            queryset = self._visible_to(stand_in)
            for i, name in enumerate(names, start=1):
                slots[name] = sentinel(type(given[name]), i)
                queryset = filters[name].filter(queryset, slots[name])
            queryset = queryset.values(*self.fields)
            if not count_fits_in_page(queryset):
                raise Unpreparable("the count cannot ride in the page's statement")
            return paginator.page_query(queryset), slots

        key = (type(self), superuser, names, paginator.limit, paginator.offset)
        statement = prepared(key, build) if user.is_authenticated else None
        if statement is None:
            return None
        rows = [dict(zip(statement.names, row, strict=True)) for row in statement.rows({"user": user.pk, **given})]
        return paginator.page_rows(rows, None) if rows else None

    def _filter_values(self, request) -> tuple[dict, dict | None]:
        """The filters and the values given to them, checked as DjangoFilterBackend checks them
        (a bad one is a 400); the values are None when one cannot go into a kept statement."""
        filterset = DjangoFilterBackend().get_filterset(request, self.queryset, self)
        if filterset is None:
            return {}, {}
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        given = {n: v for n, v in filterset.form.cleaned_data.items() if v not in EMPTY_VALUES}
        if not all(_slotted(filterset.filters[n], v) for n, v in given.items()):
            return filterset.filters, None
        return filterset.filters, given

    def retrieve(self, request, *args, **kwargs):
        pk = kwargs["pk"]
        if not str(pk).isdigit():
            raise exceptions.NotFound("Not found.")
        row = self.get_queryset().filter(pk=pk).values(*self.fields).first()
        if row is None:
            raise exceptions.NotFound("Not found.")
        return Response(self.row(row))


def _slotted(filter_, value) -> bool:
    """A filter whose value goes into SQL as is: an exact comparison with an int or a str."""
    return (
        filter_.method is None
        and filter_.lookup_expr == "exact"
        and not filter_.exclude
        and not filter_.distinct
        and type(value) in (int, str)
        and value != getattr(filter_, "null_value", object())
    )
