from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from trading.api.serializers import AccountQuerySerializer, StatusSerializer
from trading.models import TradingAccount
from trading.selectors import accounts_visible_to
from trading.serializers import account_state


def account_from_query(request) -> TradingAccount:
    """The account named by ?account=, limited to what the user may see. Omitted, it is the
    user's only account; with several, the caller must choose."""
    query = AccountQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    visible = accounts_visible_to(request.user)
    account_id = query.validated_data.get("account")
    if account_id is None:
        accounts = list(visible.order_by("pk")[:2])
        if len(accounts) == 1:
            return accounts[0]
        if not accounts:
            raise Http404("You have no trading account.")
        raise exceptions.ValidationError({"account": ["Required: you can see several accounts."]})
    account = visible.filter(pk=account_id).first()
    if account is None:
        raise Http404(f"Account {account_id} not found.")
    return account


class StatusView(APIView):
    @extend_schema(
        summary="Mode, equity, P&L, exposure, positions, stop level, active config and last tick.",
        parameters=[AccountQuerySerializer],
        responses=StatusSerializer,
    )
    def get(self, request):
        return Response(account_state(account=account_from_query(request)))
