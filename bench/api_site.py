"""URLs for bench/api.py: the real site plus two plain Django views that run the same queries
as GET /api/v1/status and the 50-row orders list, without DRF (the baselines)."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import include, path


@login_not_required
def plain_status(request):
    from trading.models import TradingAccount
    from trading.serializers import account_state

    return JsonResponse(account_state(account=TradingAccount.objects.get(pk=int(request.GET["account"]))))


@login_not_required
def plain_orders(request):
    from genesis_site.api import plain
    from trading.api.views import OrderViewSet
    from trading.models import Order

    rows = Order.objects.filter(account_id=int(request.GET["account"])).order_by("-created_at", "-pk")
    return JsonResponse({"results": [plain(r) for r in rows.values(*OrderViewSet.fields)[:50]]})


urlpatterns = [
    path("plain/status", plain_status),
    path("plain/orders", plain_orders),
    path("", include("genesis_site.urls")),
]
