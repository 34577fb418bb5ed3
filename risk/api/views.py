"""Risk API (SPEC O2): stop levels, symbol locks, allow/deny lists, alerts, config versions.
Every write is one service call behind the permission of its action (genesis_site.roles)."""

from dataclasses import asdict

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.services import Actor
from genesis_site.api import READ_ERRORS, WRITE_ERRORS, AccountScopedViewSet, may, request_actor
from risk.alerts import alert_acknowledge, alert_as_dict, alert_resolve
from risk.api import serializers as s
from risk.filtersets import AlertFilter, ConfigVersionFilter, SymbolLockFilter
from risk.models import Alert, ConfigVersion, SymbolLock
from risk.selectors import config_version_active, config_version_diff, policy_of
from risk.services import (
    config_version_activate,
    config_version_create,
    config_version_rollback,
    trading_flatten,
    trading_halt,
    trading_pause_entries,
    trading_release,
)
from risk.symbol_lists import symbol_lists_set
from trading.api.serializers import AccountCommandSerializer, AccountQuerySerializer
from trading.api.views import account_for, account_from_query, valid
from trading.models import TradingAccount


def _stop_state(account: TradingAccount, **counts) -> Response:
    account.refresh_from_db(fields=["stop_level", "stop_reason"])
    return Response(
        {"account": account.pk, "stop_level": account.stop_level, "stop_reason": account.stop_reason, **counts}
    )


class _StopView(APIView):
    input_serializer = AccountCommandSerializer

    def command(self, account: TradingAccount, actor: Actor, data: dict) -> dict:
        raise NotImplementedError

    def post(self, request):
        data = valid(self.input_serializer, request.data)
        account = account_for(request, data.get("account"))
        counts = self.command(account, request_actor(request), data) or {}
        return _stop_state(account, **counts)


def _stop_schema(summary: str, request=AccountCommandSerializer):
    return extend_schema(summary=summary, request=request, responses={200: s.StopStateSerializer, **WRITE_ERRORS})


class PauseEntriesView(_StopView):
    permission_classes = [IsAuthenticated, may("pause_entries")]

    @_stop_schema("Pause entries on the account: no new positions; exits and stops keep working.")
    def post(self, request):
        return super().post(request)

    def command(self, account, actor, data):
        trading_pause_entries(account_id=account.pk, actor=actor, reason=data["reason"])


class HaltView(_StopView):
    permission_classes = [IsAuthenticated, may("halt")]

    @_stop_schema(
        "Halt (kill switch): no new orders at all from this answer on, and every open order cancelled "
        "(a LIVE account's on the exchange right after the answer: cancel_on_exchange)."
    )
    def post(self, request):
        return super().post(request)

    def command(self, account, actor, data):
        result = trading_halt(account_id=account.pk, actor=actor, reason=data["reason"])
        return {"cancelled_orders": result.cancelled_orders, "cancel_on_exchange": result.cancel_on_exchange}


class FlattenView(_StopView):
    permission_classes = [IsAuthenticated, may("flatten")]

    @_stop_schema(
        "Flatten: halt, then close every position at market (a LIVE account's cancels, then its exits, "
        "go to the exchange right after the answer: cancel_on_exchange, exit_orders)."
    )
    def post(self, request):
        return super().post(request)

    def command(self, account, actor, data):
        return asdict(trading_flatten(account_id=account.pk, actor=actor, reason=data["reason"]))


class ReleaseView(_StopView):
    permission_classes = [IsAuthenticated, may("release")]
    input_serializer = s.ReleaseSerializer

    @_stop_schema("Release: back to normal trading, or lift one symbol's locks.", s.ReleaseSerializer)
    def post(self, request):
        return super().post(request)

    def command(self, account, actor, data):
        trading_release(account_id=account.pk, actor=actor, reason=data["reason"], symbol=data.get("symbol"))


@extend_schema_view(
    list=extend_schema(
        summary="Symbol locks (timed pauses of entries per symbol).",
        responses={200: s.SymbolLockSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(summary="One symbol lock.", responses={200: s.SymbolLockSerializer, **READ_ERRORS}),
)
class SymbolLockViewSet(AccountScopedViewSet):
    queryset = SymbolLock.objects.order_by("-created_at", "-pk")
    serializer_class = s.SymbolLockSerializer
    filterset_class = SymbolLockFilter
    fields = tuple(s.SymbolLockSerializer().fields)

    @extend_schema(
        summary="Lock a symbol: no new entries in it for `minutes` (exits keep working).",
        request=s.SymbolLockCreateSerializer,
        responses={201: s.SymbolLockSerializer, **WRITE_ERRORS},
    )
    def create(self, request):
        data = valid(s.SymbolLockCreateSerializer, request.data)
        account = account_for(request, data.get("account"))
        trading_pause_entries(
            account_id=account.pk,
            actor=request_actor(request),
            reason=data["reason"],
            symbol=data["symbol"],
            minutes=data["minutes"],
        )
        row = SymbolLock.objects.filter(account=account, symbol=data["symbol"]).order_by("-pk").values(*self.fields)
        return Response(self.row(row[0]), status=201)

    @extend_schema(
        summary="Lift a symbol's running locks.",
        request=s.SymbolLockReleaseSerializer,
        responses={200: s.StopStateSerializer, **WRITE_ERRORS},
    )
    @action(detail=False, methods=["post"], permission_classes=[IsAuthenticated, may("release")])
    def release(self, request):
        data = valid(s.SymbolLockReleaseSerializer, request.data)
        account = account_for(request, data.get("account"))
        trading_release(
            account_id=account.pk, actor=request_actor(request), reason=data["reason"], symbol=data["symbol"]
        )
        return _stop_state(account)

    def get_permissions(self):
        if self.action == "create":
            return [IsAuthenticated(), may("pause_entries")()]
        return super().get_permissions()


class SymbolListsView(APIView):
    def get_permissions(self):
        if self.request.method == "PUT":
            return [IsAuthenticated(), may("activate_config")()]
        return super().get_permissions()

    @extend_schema(
        summary="The allow and deny lists of the active risk policy.",
        parameters=[AccountQuerySerializer],
        responses={200: s.SymbolListsSerializer, **READ_ERRORS},
    )
    def get(self, request):
        account = account_from_query(request)
        version = config_version_active(account_id=account.pk)
        policy = policy_of(version)
        return Response(
            {
                "account": account.pk,
                "config_version": version.version if version else None,
                "symbols_allow": list(policy.symbols_allow),
                "symbols_deny": list(policy.symbols_deny),
            }
        )

    @extend_schema(
        summary="Replace the allow and deny lists: a new configuration version, created and activated (audited).",
        request=s.SymbolListsUpdateSerializer,
        responses={200: s.SymbolListsSerializer, **WRITE_ERRORS},
    )
    def put(self, request):
        data = valid(s.SymbolListsUpdateSerializer, request.data)
        account = account_for(request, data.get("account"))
        version = symbol_lists_set(
            account=account,
            allow=data["symbols_allow"],
            deny=data["symbols_deny"],
            user=request.user,
            actor=request_actor(request),
            reason=data["reason"],
        )
        policy = policy_of(version)
        return Response(
            {
                "account": account.pk,
                "config_version": version.version,
                "symbols_allow": list(policy.symbols_allow),
                "symbols_deny": list(policy.symbols_deny),
            }
        )


@extend_schema_view(
    list=extend_schema(
        summary="Alerts, most recently seen first.", responses={200: s.AlertSerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(summary="One alert.", responses={200: s.AlertSerializer, **READ_ERRORS}),
)
class AlertViewSet(AccountScopedViewSet):
    queryset = Alert.objects.select_related("acknowledged_by").order_by("-last_seen", "-pk")
    serializer_class = s.AlertSerializer
    filterset_class = AlertFilter

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([alert_as_dict(a) for a in page])

    def retrieve(self, request, pk=None):
        return Response(alert_as_dict(self._alert(pk)))

    def _alert(self, pk) -> Alert:
        alert = self.get_queryset().filter(pk=pk).first() if str(pk).isdigit() else None
        if alert is None:
            raise Http404(f"Alert {pk} not found.")
        return alert

    @extend_schema(
        summary="Acknowledge an open alert (who, when, comment); stops its escalation.",
        request=s.AlertCommandSerializer,
        responses={200: s.AlertSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, may("acknowledge_alert")])
    def acknowledge(self, request, pk=None):
        data = valid(s.AlertCommandSerializer, request.data)
        alert = alert_acknowledge(alert_id=self._alert(pk).pk, user=request.user, comment=data["comment"])
        return Response(alert_as_dict(alert))

    @extend_schema(
        summary="Resolve an alert.",
        request=s.AlertCommandSerializer,
        responses={200: s.AlertSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, may("acknowledge_alert")])
    def resolve(self, request, pk=None):
        data = valid(s.AlertCommandSerializer, request.data)
        alert = alert_resolve(alert_id=self._alert(pk).pk, actor=request_actor(request), comment=data["comment"])
        return Response(alert_as_dict(alert))


@extend_schema_view(
    list=extend_schema(
        summary="Risk configuration versions, newest first.",
        responses={200: s.ConfigVersionSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One configuration version.", responses={200: s.ConfigVersionSerializer, **READ_ERRORS}
    ),
)
class ConfigVersionViewSet(AccountScopedViewSet):
    queryset = ConfigVersion.objects.order_by("account_id", "-version")
    serializer_class = s.ConfigVersionSerializer
    filterset_class = ConfigVersionFilter
    fields = (
        "id",
        "account_id",
        "version",
        "sha256",
        "content",
        "reason",
        "author__username",
        "parent__version",
        "is_active",
        "warnings",
        "created_at",
    )
    renames = {"author__username": "author", "parent__version": "parent_version"}

    def get_permissions(self):
        if self.action in ("create", "activate"):
            return [IsAuthenticated(), may("activate_config")()]
        if self.action == "rollback":
            return [IsAuthenticated(), may("rollback_config")()]
        return super().get_permissions()

    def _version(self, pk) -> ConfigVersion:
        version = self.get_queryset().select_related("account").filter(pk=pk).first() if str(pk).isdigit() else None
        if version is None:
            raise Http404(f"Configuration version {pk} not found.")
        return version

    def _respond(self, version: ConfigVersion, status: int = 200) -> Response:
        row = ConfigVersion.objects.filter(pk=version.pk).values(*self.fields).get()
        return Response(self.row(row), status=status)

    @extend_schema(
        summary="Create a configuration version from YAML (validated, every problem listed); optionally activate it.",
        request=s.ConfigCreateSerializer,
        responses={201: s.ConfigVersionSerializer, **WRITE_ERRORS},
    )
    def create(self, request):
        data = valid(s.ConfigCreateSerializer, request.data)
        account = account_for(request, data.get("account"))
        actor = request_actor(request)
        version = config_version_create(
            account=account, content=data["content"], author=request.user, reason=data["reason"], actor=actor
        )
        if data["activate"]:
            config_version_activate(version=version, actor=actor, reason=data["reason"])
        return self._respond(version, status=201)

    @extend_schema(
        summary="Activate this version (audited with the limits it loosens).",
        request=s.ConfigActivateSerializer,
        responses={200: s.ConfigVersionSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        data = valid(s.ConfigActivateSerializer, request.data)
        version = config_version_activate(
            version=self._version(pk), actor=request_actor(request), reason=data["reason"]
        )
        return self._respond(version)

    @extend_schema(
        summary="Roll back: activate an earlier version again (audited as a rollback).",
        request=s.ConfigRollbackSerializer,
        responses={200: s.ConfigVersionSerializer, **WRITE_ERRORS},
    )
    @action(detail=False, methods=["post"])
    def rollback(self, request):
        data = valid(s.ConfigRollbackSerializer, request.data)
        account = account_for(request, data.get("account"))
        version = config_version_rollback(
            account=account, version=data["version"], actor=request_actor(request), reason=data["reason"]
        )
        return self._respond(version)

    @extend_schema(
        summary="What changed between this version and another (its parent by default).",
        parameters=[s.ConfigDiffQuerySerializer],
        responses={200: s.ConfigDiffSerializer, **READ_ERRORS},
    )
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        query = valid(s.ConfigDiffQuerySerializer, request.query_params)
        newer = self._version(pk)
        if query.get("against"):
            older = ConfigVersion.objects.filter(account_id=newer.account_id, version=query["against"]).first()
        else:
            older = newer.parent
        if older is None:
            raise Http404("No version to compare with: give ?against=N.")
        return Response(config_version_diff(older, newer))
