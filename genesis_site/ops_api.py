"""Operations API (SPEC O2, M4, M7): deployments, recent logs, dead-lettered tasks and the
error budget."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from genesis_site.api import READ_ERRORS, WRITE_ERRORS, AccountScopedViewSet, may, request_actor
from genesis_site.deadletter import failed_task_discard, failed_task_retry
from genesis_site.errorbudget import error_budget
from genesis_site.errors import CATEGORIES, SEVERITIES
from genesis_site.fields import StrictCharField, StrictRegexField
from genesis_site.filters import FailedTaskFilter
from genesis_site.models import Deployment, FailedTask
from genesis_site.selectors import logs_recent
from genesis_site.services import deployment_health_record, deployment_record, deployment_rollback
from trading.api.serializers import AccountCommandSerializer
from trading.api.views import account_for, valid


class DeploymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    version = StrictCharField()
    config_version = serializers.IntegerField(help_text="Configuration version number it ran with.")
    config_hash = StrictCharField()
    deployed_by = StrictCharField()
    reason = StrictCharField(allow_blank=True)
    deployed_at = serializers.DateTimeField()
    health = serializers.ChoiceField(choices=["pending", "healthy", "unhealthy", "rolled_back"])
    health_detail = serializers.JSONField()
    checked_at = serializers.DateTimeField(allow_null=True)
    rolled_back_to = serializers.IntegerField(allow_null=True, help_text="Configuration version rolled back to.")


class DeploymentCreateSerializer(AccountCommandSerializer):
    version = StrictRegexField(r"^[A-Za-z0-9._:+-]{1,64}$", help_text="Code version: git sha or image tag.")
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


class DeploymentHealthSerializer(serializers.Serializer):
    healthy = serializers.BooleanField(help_text="Result of the post-deploy health checks (e.g. /readyz).")
    detail = serializers.DictField(required=False, default=dict, help_text="The checks' JSON detail.")


class DeploymentRollbackSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500)


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
    level = StrictCharField()
    logger = StrictCharField(help_text="Logger name, or task:NAME / job:NAME for a failed task or job.")
    message = StrictCharField(allow_blank=True)
    correlation_id = StrictCharField(allow_blank=True)
    error = StrictCharField(allow_blank=True, help_text="Exception class, when there was one.")
    category = serializers.ChoiceField(choices=["", *CATEGORIES], help_text="Errors only (SPEC M7).")
    severity = serializers.ChoiceField(choices=["", *SEVERITIES])
    hint = StrictCharField(allow_blank=True, help_text="What to do about it.")
    process = StrictCharField(allow_blank=True, help_text="host:pid of the process that logged it.")
    suppressed = serializers.IntegerField(
        help_text="Similar records (same source and error) not stored since the previous one of this process."
    )


class LogsView(APIView):
    permission_classes = [IsAuthenticated, LogReader]

    @extend_schema(
        summary="Recent errors of every process (web, worker, beat), categorized, newest first; "
        "level=warning adds this web process's warnings.",
        parameters=[LogQuerySerializer],
        responses={200: LogRecordSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request):
        query = valid(LogQuerySerializer, request.query_params)
        rows = logs_recent(level=query["level"], limit=query["limit"])
        return Response(LogRecordSerializer(rows, many=True).data)


# --- dead-lettered tasks and the error budget (SPEC M7) --------------------------------------


class FailedTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task_name = StrictCharField()
    task_id = StrictCharField(allow_blank=True)
    args = serializers.JSONField()
    kwargs = serializers.JSONField()
    correlation_id = StrictCharField(allow_blank=True)
    exception = StrictCharField()
    error_class = StrictCharField()
    category = serializers.ChoiceField(choices=CATEGORIES)
    severity = serializers.ChoiceField(choices=SEVERITIES)
    hint = StrictCharField()
    retries = serializers.IntegerField(help_text="Retries Celery made before giving up.")
    occurrences = serializers.IntegerField(help_text="Times this same failure happened while dead.")
    first_failed_at = serializers.DateTimeField()
    failed_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=["dead", "retried", "discarded"])
    acted_by = StrictCharField(allow_blank=True)
    acted_at = serializers.DateTimeField(allow_null=True)
    reason = StrictCharField(allow_blank=True)
    retry_task_id = StrictCharField(allow_blank=True)


class FailedTaskActionSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500, help_text="Why: recorded in the audit trail.")


@extend_schema_view(
    list=extend_schema(
        summary="Dead-lettered tasks, newest failure first.",
        responses={200: FailedTaskSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(summary="One dead-lettered task.", responses={200: FailedTaskSerializer, **READ_ERRORS}),
)
class FailedTaskViewSet(AccountScopedViewSet):
    """Failed tasks belong to the system, not to one account: every role reads them; the
    `handle_failed_task` permission retries or discards them."""

    queryset = FailedTask.objects.order_by("-failed_at", "-pk")
    serializer_class = FailedTaskSerializer
    filterset_class = FailedTaskFilter
    fields = tuple(FailedTaskSerializer().fields)

    def get_queryset(self):
        return self.queryset.all()

    def get_permissions(self):
        if self.action in ("retry", "discard"):
            return [IsAuthenticated(), may("handle_failed_task")()]
        return super().get_permissions()

    def _act(self, request, pk, service) -> Response:
        data = valid(FailedTaskActionSerializer, request.data)
        if not str(pk).isdigit() or not FailedTask.objects.filter(pk=pk).exists():
            raise Http404(f"Failed task {pk} not found.")
        row = service(failed_task_id=int(pk), actor=request_actor(request), reason=data["reason"])
        return Response(self.row(FailedTask.objects.filter(pk=row.pk).values(*self.fields).get()))

    @extend_schema(
        summary="Send the task again with the same arguments and correlation id; marks it retried.",
        request=FailedTaskActionSerializer,
        responses={200: FailedTaskSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        return self._act(request, pk, failed_task_retry)

    @extend_schema(
        summary="Give up on the task for good; marks it discarded.",
        request=FailedTaskActionSerializer,
        responses={200: FailedTaskSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def discard(self, request, pk=None):
        return self._act(request, pk, failed_task_discard)


class ErrorBudgetQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(
        min_value=1, required=False, help_text="Only this account's ticks (default: every account: the system's SLO)."
    )


class BurnRateSerializer(serializers.Serializer):
    window_hours = serializers.IntegerField()
    ticks = serializers.IntegerField()
    failed = serializers.IntegerField()
    burn_rate = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        allow_null=True,
        help_text="Failure rate / (1 - SLO); 1 spends the budget exactly.",
    )


class ErrorBudgetSerializer(serializers.Serializer):
    slo = serializers.DecimalField(max_digits=None, decimal_places=None, help_text="Share of ticks that must succeed.")
    window_days = serializers.IntegerField()
    ticks = serializers.IntegerField()
    failed = serializers.IntegerField()
    success_ratio = serializers.DecimalField(max_digits=None, decimal_places=None, allow_null=True)
    budget_remaining = serializers.DecimalField(
        max_digits=None, decimal_places=None, help_text="Share of the allowed failures not spent (negative: overspent)."
    )
    burn_rates = BurnRateSerializer(many=True)


class ErrorBudgetView(APIView):
    @extend_schema(
        summary="The engine-tick error budget: success ratio over the SLO window, budget left, burn rates.",
        parameters=[ErrorBudgetQuerySerializer],
        responses={200: ErrorBudgetSerializer, **READ_ERRORS},
    )
    def get(self, request):
        query = valid(ErrorBudgetQuerySerializer, request.query_params)
        account_id = account_for(request, query["account"]).pk if "account" in query else None
        return Response(error_budget(account_id=account_id).as_dict())
