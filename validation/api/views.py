"""Validation runs and the go-live gate over the API (SPEC O2, V6): parse, call the service,
format. Every write checks its own permission (genesis_site roles, validation migrations)."""

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.services import Actor
from genesis_site.api import READ_ERRORS, WRITE_ERRORS
from trading.selectors import accounts_visible_to
from validation.api.serializers import (
    DecideSerializer,
    DecisionSerializer,
    OverrideSerializer,
    RunDetailSerializer,
    RunSerializer,
    RunStartSerializer,
    TrendPointSerializer,
)
from validation.golive import golive_decide, golive_override
from validation.models import GoLiveDecision, ValidationRun
from validation.selectors import check_trend, golive_decision_current
from validation.services import validation_run_start
from validation.validators import REGISTRY


def permission(codename: str) -> type[BasePermission]:
    class HasPermission(BasePermission):
        message = f"You need the {codename} permission."

        def has_permission(self, request, view):
            return request.user.is_authenticated and request.user.has_perm(codename)

    return HasPermission


def _actor(request) -> Actor:
    return Actor.from_user(request.user, bot=getattr(request, "auth", None) is not None)


def _visible_account_id(request, account_id: int | None) -> int | None:
    if account_id is not None and not accounts_visible_to(request.user).filter(pk=account_id).exists():
        raise Http404(f"Account {account_id} not found.")
    return account_id


class RunListCreateView(ListAPIView):
    serializer_class = RunSerializer

    def get_permissions(self):
        codename = "validation.start_validation" if self.request.method == "POST" else "validation.view_validationrun"
        return [permission(codename)()]

    def get_queryset(self):
        return ValidationRun.objects.order_by("-started_at", "-pk")

    @extend_schema(summary="Validation runs, newest first.", responses={200: RunSerializer(many=True), **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Start a validation run (202 at once; 409 while one runs for the account).",
        request=RunStartSerializer,
        responses={202: RunSerializer, **WRITE_ERRORS},
    )
    def post(self, request):
        data = RunStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = validation_run_start(
            mode=data.validated_data["mode"],
            only=data.validated_data.get("only"),
            account_id=_visible_account_id(request, data.validated_data.get("account")),
            actor=_actor(request),
            user=request.user,
            trigger="api" if request.auth is not None else "dashboard",
        )
        # Accepted, not done: the run executes on a worker (embedded: the background thread)
        # and pushes its progress; 409 names the run still going for this account.
        location = reverse("api:validation-run", kwargs={"run_id": run.pk})
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class RunDetailView(APIView):
    permission_classes = [permission("validation.view_validationrun")]

    @extend_schema(
        summary="A validation run with every check result.", responses={200: RunDetailSerializer, **READ_ERRORS}
    )
    def get(self, request, run_id: int):
        run = ValidationRun.objects.prefetch_related("results").filter(pk=run_id).first()
        if run is None:
            raise Http404(f"Validation run {run_id} not found.")
        return Response(RunDetailSerializer(run).data)


class CheckTrendView(APIView):
    permission_classes = [permission("validation.view_validationrun")]

    @extend_schema(
        summary="One check's results over time.", responses={200: TrendPointSerializer(many=True), **READ_ERRORS}
    )
    def get(self, request, name: str):
        if name not in REGISTRY:
            raise Http404(f"No check named {name}.")
        return Response(TrendPointSerializer(check_trend(name=name), many=True).data)


class GoLiveView(APIView):
    def get_permissions(self):
        codename = "validation.decide_golive" if self.request.method == "POST" else "validation.view_golivedecision"
        return [permission(codename)()]

    @extend_schema(
        summary="The go-live decision for the account's active configuration (404 when there is none).",
        parameters=[OpenApiParameter("account", int, required=True, description="Account id.")],
        responses={200: DecisionSerializer, **READ_ERRORS},
    )
    def get(self, request):
        try:
            account_id = int(request.query_params.get("account", ""))
        except ValueError:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"account": ["Required: an account id."]}) from None
        decision = golive_decision_current(account_id=_visible_account_id(request, account_id))
        if decision is None:
            raise Http404(f"No go-live decision for account {account_id}'s active configuration.")
        return Response(DecisionSerializer(decision).data)

    @extend_schema(
        summary="Decide GO/NO-GO now for the account's active configuration.",
        request=DecideSerializer,
        responses={201: DecisionSerializer, **WRITE_ERRORS},
    )
    def post(self, request):
        data = DecideSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = golive_decide(
            account_id=_visible_account_id(request, data.validated_data["account"]),
            run_id=data.validated_data.get("run"),
            actor=_actor(request),
        )
        return Response(DecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


class GoLiveOverrideView(APIView):
    permission_classes = [permission("validation.override_golive")]

    @extend_schema(
        summary="Override a go-live decision, with a written reason (audited).",
        request=OverrideSerializer,
        responses={201: DecisionSerializer, **WRITE_ERRORS},
    )
    def post(self, request, decision_id: int):
        data = OverrideSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        original = GoLiveDecision.objects.filter(pk=decision_id).first()
        if original is None or not accounts_visible_to(request.user).filter(pk=original.account_id).exists():
            raise Http404(f"Go-live decision {decision_id} not found.")
        override = golive_override(
            decision_id=decision_id,
            decision=data.validated_data["decision"],
            reason=data.validated_data["reason"],
            actor=_actor(request),
            user=request.user,
        )
        return Response(DecisionSerializer(override).data, status=status.HTTP_201_CREATED)
