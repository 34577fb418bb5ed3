"""Operations API (SPEC O2, M4): deployments and recent logs."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from genesis_site.api import READ_ERRORS, WRITE_ERRORS, AccountScopedViewSet, may, request_actor
from genesis_site.selectors import logs_recent
from genesis_site.models import Deployment
from genesis_site.services import deployment_health_record, deployment_record, deployment_rollback
from trading.api.serializers import AccountCommandSerializer
from trading.api.views import account_for, valid


class DeploymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    version = serializers.CharField()
    config_version = serializers.IntegerField(help_text="Configuration version number it ran with.")
    config_hash = serializers.CharField()
    deployed_by = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    deployed_at = serializers.DateTimeField()
    health = serializers.ChoiceField(choices=["pending", "healthy", "unhealthy", "rolled_back"])
    health_detail = serializers.JSONField()
    checked_at = serializers.DateTimeField(allow_null=True)
    rolled_back_to = serializers.IntegerField(allow_null=True, help_text="Configuration version rolled back to.")


class DeploymentCreateSerializer(AccountCommandSerializer):
    version = serializers.RegexField(r"^[A-Za-z0-9._:+-]{1,64}$", help_text="Code version: git sha or image tag.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DeploymentHealthSerializer(serializers.Serializer):
    healthy = serializers.BooleanField(help_text="Result of the post-deploy health checks (e.g. /readyz).")
    detail = serializers.DictField(required=False, default=dict, help_text="The checks' JSON detail.")


class DeploymentRollbackSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


@extend_schema_view(
    list=extend_schema(
        summary="Deployment history, newest first.", responses={200: DeploymentSerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(summary="One deployment.", responses={200: DeploymentSerializer, **READ_ERRORS}),
)
class DeploymentViewSet(AccountScopedViewSet):
    queryset = Deployment.objects.order_by("-deployed_at", "-pk")
    serializer_class = DeploymentSerializer
    fields = (
        *(f for f in DeploymentSerializer().fields if f not in ("config_version", "rolled_back_to")),
        "config_version__version",
        "rolled_back_to__version",
    )
    renames = {"config_version__version": "config_version", "rolled_back_to__version": "rolled_back_to"}

    def get_permissions(self):
        if self.action in ("create", "health"):
            return [IsAuthenticated(), may("activate_config")()]
        if self.action == "rollback":
            return [IsAuthenticated(), may("rollback_config")()]
        return super().get_permissions()

    def _deployment(self, pk) -> Deployment:
        deployment = self.get_queryset().filter(pk=pk).first() if str(pk).isdigit() else None
        if deployment is None:
            raise Http404(f"Deployment {pk} not found.")
        return deployment

    def _respond(self, deployment: Deployment, status: int = 200) -> Response:
        return Response(self.row(Deployment.objects.filter(pk=deployment.pk).values(*self.fields).get()), status=status)

    @extend_schema(
        summary="Record a deployment of a code version with the account's active configuration.",
        request=DeploymentCreateSerializer,
        responses={201: DeploymentSerializer, **WRITE_ERRORS},
    )
    def create(self, request):
        data = valid(DeploymentCreateSerializer, request.data)
        account = account_for(request, data.get("account"))
        deployment = deployment_record(
            account=account, version=data["version"], actor=request_actor(request), reason=data["reason"]
        )
        return self._respond(deployment, status=201)

    @extend_schema(
        summary="Record the post-deploy health check; unhealthy rolls the configuration back automatically.",
        request=DeploymentHealthSerializer,
        responses={200: DeploymentSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def health(self, request, pk=None):
        data = valid(DeploymentHealthSerializer, request.data)
        deployment = deployment_health_record(
            deployment_id=self._deployment(pk).pk,
            healthy=data["healthy"],
            detail=data["detail"],
            actor=request_actor(request),
        )
        return self._respond(deployment)

    @extend_schema(
        summary="Roll back: re-activate the configuration of the last healthy deployment.",
        request=DeploymentRollbackSerializer,
        responses={200: DeploymentSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        data = valid(DeploymentRollbackSerializer, request.data)
        deployment = deployment_rollback(
            deployment_id=self._deployment(pk).pk, actor=request_actor(request), reason=data["reason"]
        )
        return self._respond(deployment)


class LogReader(BasePermission):
    """Logs can name any account, so they are for admins and risk managers."""

    message = "Only admins and risk managers read the logs."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return user.is_superuser or user.groups.filter(name__in=("admin", "risk_manager")).exists()


class LogQuerySerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=["warning", "error", "critical"], default="warning")
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class LogRecordSerializer(serializers.Serializer):
    ts = serializers.DateTimeField()
    level = serializers.CharField()
    logger = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    correlation_id = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)


class LogsView(APIView):
    permission_classes = [IsAuthenticated, LogReader]

    @extend_schema(
        summary="This web process's recent warnings and errors, newest first.",
        parameters=[LogQuerySerializer],
        responses={200: LogRecordSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request):
        query = valid(LogQuerySerializer, request.query_params)
        return Response(logs_recent(level=query["level"], limit=query["limit"]))
