"""URLs for bench/api.py: the real site plus two plain Django views that run the same queries
as GET /api/v1/status and the 50-row orders list, without DRF (the baselines).

They read as the API does for a viewer (`user`, a member of the account): the account through
trading.selectors.account_visible_get, the orders limited to the accounts visible to that
user, in the same SQL as the API's. What they leave out is what the API adds on top: the token
check, the throttle, DRF, the filter form and the paginator's count."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import include, path


def _viewer(request):
    from django.contrib.auth import get_user_model

    # The viewer's id only: a user object as authentication would give, without its query.
    return get_user_model()(pk=int(request.GET["user"]), is_active=True, is_superuser=False)


@login_not_required
def plain_status(request):
    from trading.selectors import account_visible_get
    from trading.serializers import account_state

    account = account_visible_get(user=_viewer(request), account_id=int(request.GET["account"]))
    return JsonResponse(account_state(account=account))


@login_not_required
def plain_orders(request):
    from genesis_site.api import plain
    from trading.api.views import OrderViewSet
    from trading.models import Order
    from trading.selectors import accounts_visible_to

    rows = Order.objects.filter(account__in=accounts_visible_to(_viewer(request)))
    rows = rows.filter(account_id=int(request.GET["account"])).order_by("-created_at", "-pk")
    return JsonResponse({"results": [plain(r) for r in rows.values(*OrderViewSet.fields)[:50]]})


urlpatterns = [
    path("plain/status", plain_status),
    path("plain/orders", plain_orders),
    path("", include("genesis_site.urls")),
]
