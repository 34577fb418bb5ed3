"""The validation dashboard page (SPEC O1): runs with live progress, the go-live decision with
its blocking issues, per-check trends. Controls go through the API (same services)."""

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from trading.selectors import accounts_visible_to
from validation.api.serializers import DecisionSerializer
from validation.models import ValidationRun
from validation.reports import report_render
from validation.selectors import golive_decision_current, runs_recent
from validation.validators import REGISTRY


@never_cache
@permission_required("validation.view_validationrun", raise_exception=True)
def validation_page(request):
    accounts = list(accounts_visible_to(request.user).order_by("name"))
    account = next((a for a in accounts if str(a.pk) == request.GET.get("account")), accounts[0] if accounts else None)
    decision = golive_decision_current(account_id=account.pk) if account else None
    return render(
        request,
        "validation/page.html",
        {
            "accounts": accounts,
            "account": account,
            "runs": runs_recent(limit=30),
            "decision": decision,
            "decision_data": DecisionSerializer(decision).data if decision else None,
            "checks": sorted(REGISTRY.values(), key=lambda v: v.check_id),
            "can_start": request.user.has_perm("validation.start_validation"),
            "can_decide": request.user.has_perm("validation.decide_golive"),
        },
    )


@never_cache
@permission_required("validation.view_validationrun", raise_exception=True)
def run_report_view(request, run_id: int, fmt: str):
    if fmt not in ("html", "json"):
        raise Http404("Reports are html or json.")
    run = ValidationRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404(f"Validation run {run_id} not found.")
    body = report_render(run=run, fmt=fmt)
    return HttpResponse(body, content_type="text/html" if fmt == "html" else "application/json")
