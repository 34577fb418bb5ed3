from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from trading.models import TradingAccount
from trading.selectors import accounts_visible_to
from trading.serializers import overview_data


def _visible_account(request, account_id: int) -> TradingAccount:
    account = accounts_visible_to(request.user).filter(pk=account_id).first()
    if account is None:
        raise Http404("No such account.")
    return account


def home(request):
    account = accounts_visible_to(request.user).order_by("pk").first()
    if account is None:
        return render(request, "dashboard/no_account.html")
    return redirect("dashboard:overview", account_id=account.pk)


@never_cache
def overview(request, account_id: int):
    account = _visible_account(request, account_id)
    accounts = accounts_visible_to(request.user).order_by("name")
    return render(
        request,
        "dashboard/overview.html",
        {
            "account": account,
            "accounts": accounts,
            "initial": overview_data(account=account),
        },
    )


@never_cache
def overview_state(request, account_id: int):
    """The overview's full state, for the page to re-sync after a gap in the live stream."""
    return JsonResponse(overview_data(account=_visible_account(request, account_id)))


def _wants_json(request) -> bool:
    return request.path_info.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def handler404(request, exception=None):
    if _wants_json(request):
        return JsonResponse(
            {"error": {"code": "not_found", "message": f"No such resource: {request.path}"}}, status=404
        )
    return render(request, "404.html", status=404)


def handler500(request):
    if _wants_json(request):
        return JsonResponse(
            {"error": {"code": "server_error", "message": "Internal error; it has been logged."}}, status=500
        )
    return render(request, "500.html", status=500)
