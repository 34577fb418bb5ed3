"""Trading API (SPEC O2): status, accounts, strategies, orders, fills, positions, manual
trading, performance. Views parse input, call one service or selector, and format output."""

from datetime import timedelta

from django.conf import settings
from django.http import Http404, QueryDict
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from genesis_site.api import READ_ERRORS, WRITE_ERRORS, AccountScopedViewSet, may, plain, request_actor
from risk.services.stops import trading_pause_entries, trading_release
from trading import performance
from trading.api.serializers import (
    AccountQuerySerializer,
    AccountSerializer,
    FillSerializer,
    ForceEntrySerializer,
    ForceExitSerializer,
    OrderSerializer,
    PerformanceQuerySerializer,
    PerformanceSerializer,
    PositionRowSerializer,
    ProfitQuerySerializer,
    ProfitSerializer,
    ReplaySerializer,
    StatusSerializer,
    StrategyCommandSerializer,
    StrategySerializer,
    TradeStatsQuerySerializer,
    TradeStatsSerializer,
)
from trading.filtersets import FillFilter, OrderFilter, PositionFilter, StrategyFilter
from trading.models import Fill, Order, Position, Strategy, TradingAccount
from trading.selectors import account_visible_get, accounts_visible_to
from trading.serializers import account_state
from trading.services.accounts import account_replay_set
from trading.services.manual import manual_order_place


def account_for(request, account_id: int | None) -> TradingAccount:
    """The account `account_id` names, limited to what the user may see. Omitted, it is the
    user's only account; with several, the caller must choose."""
    if account_id is None:
        accounts = list(accounts_visible_to(request.user).order_by("pk")[:2])
        if len(accounts) == 1:
            return accounts[0]
        if not accounts:
            raise Http404("You have no trading account.")
        raise exceptions.ValidationError({"account": ["Required: you can see several accounts."]})
    account = account_visible_get(user=request.user, account_id=account_id)
    if account is None:
        raise Http404(f"Account {account_id} not found.")
    return account


def valid(serializer_class, data) -> dict:
    if isinstance(data, QueryDict):
        # A plain dict: DRF would read an empty query value as "not given" and use the default,
        # where the schema says an empty `period=` or `level=` is not one of the choices.
        data = data.dict()
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    # Rules the schema cannot state run once every field is well-formed, and refuse with 422
    # (genesis_site.api.InputUnprocessable); DRF would fold them into a 400 inside is_valid.
    if rules := getattr(serializer, "rules", None):
        rules(serializer.validated_data)
    return serializer.validated_data


def account_from_query(request) -> TradingAccount:
    return account_for(request, valid(AccountQuerySerializer, request.query_params).get("account"))


class StatusView(APIView):
    @extend_schema(
        summary="Mode, equity, P&L, exposure, positions, stop level, active config and last tick.",
        parameters=[AccountQuerySerializer],
        responses={200: StatusSerializer, **READ_ERRORS},
    )
    def get(self, request):
        return Response(account_state(account=account_from_query(request)))


@extend_schema_view(
    list=extend_schema(
        summary="Trading accounts you can see.", responses={200: AccountSerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(summary="One trading account.", responses={200: AccountSerializer, **READ_ERRORS}),
)
class AccountViewSet(AccountScopedViewSet):
    queryset = TradingAccount.objects.order_by("pk")
    serializer_class = AccountSerializer
    account_path = "pk"
    fields = tuple(AccountSerializer().fields)

    @extend_schema(
        summary="Replay OHLCV files as the account's market data, at a speed (SPEC T1b); audited.",
        description="The same service as `manage.py account_replay`. Every file is read and checked first: "
        "a missing file, a path outside the replay directory, a symbol the account does not trade or a "
        "malformed row is refused (400, `market_data_invalid`, naming the symbol, the file and the line) "
        "and nothing changes. The replay starts from the files' first candle; empty `files` returns the "
        "account to its scenario. Needs the `change_mode` permission, like the account's mode.",
        request=ReplaySerializer,
        responses={200: AccountSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, may("change_mode")])
    def replay(self, request, pk=None):
        if not str(pk).isdigit():
            raise exceptions.NotFound(f"Account {pk} not found.")
        account = account_for(request, int(pk))
        data = valid(ReplaySerializer, request.data)
        account_replay_set(
            account_id=account.pk,
            files=data["files"],
            speed=data["speed"],
            actor=request_actor(request),
            reason=data["reason"],
            root=settings.GENESIS_REPLAY_DIR,
        )
        return Response(self.row(TradingAccount.objects.filter(pk=account.pk).values(*self.fields).get()))


@extend_schema_view(
    list=extend_schema(
        summary="Strategies of the accounts you can see.", responses={200: StrategySerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(summary="One strategy.", responses={200: StrategySerializer, **READ_ERRORS}),
)
class StrategyViewSet(AccountScopedViewSet):
    queryset = Strategy.objects.order_by("pk")
    serializer_class = StrategySerializer
    filterset_class = StrategyFilter
    fields = tuple(StrategySerializer().fields)

    def _strategy(self, pk) -> Strategy:
        strategy = self.get_queryset().select_related("account").filter(pk=pk).first() if str(pk).isdigit() else None
        if strategy is None:
            raise Http404(f"Strategy {pk} not found.")
        return strategy

    def _respond(self, strategy: Strategy) -> Response:
        return Response(self.row(Strategy.objects.filter(pk=strategy.pk).values(*self.fields).get()))

    @extend_schema(
        summary="Pause a strategy: no new entries; its exits keep working (SPEC R6).",
        request=StrategyCommandSerializer,
        responses={200: StrategySerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, may("pause_strategy")])
    def pause(self, request, pk=None):
        data = valid(StrategyCommandSerializer, request.data)
        strategy = self._strategy(pk)
        trading_pause_entries(
            account_id=strategy.account_id, actor=request_actor(request), reason=data["reason"], strategy=strategy.name
        )
        return self._respond(strategy)

    @extend_schema(
        summary="Resume a paused strategy.",
        request=StrategyCommandSerializer,
        responses={200: StrategySerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, may("pause_strategy")])
    def resume(self, request, pk=None):
        data = valid(StrategyCommandSerializer, request.data)
        strategy = self._strategy(pk)
        trading_release(
            account_id=strategy.account_id, actor=request_actor(request), reason=data["reason"], strategy=strategy.name
        )
        return self._respond(strategy)


@extend_schema_view(
    list=extend_schema(summary="Orders, newest first.", responses={200: OrderSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(summary="One order.", responses={200: OrderSerializer, **READ_ERRORS}),
)
class OrderViewSet(AccountScopedViewSet):
    queryset = Order.objects.order_by("-created_at", "-pk")
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    fields = (*(f for f in OrderSerializer().fields if f != "client_order_id"), "idempotency_key")
    renames = {"idempotency_key": "client_order_id"}


@extend_schema_view(
    list=extend_schema(summary="Fills, newest first.", responses={200: FillSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(summary="One fill.", responses={200: FillSerializer, **READ_ERRORS}),
)
class FillViewSet(AccountScopedViewSet):
    queryset = Fill.objects.order_by("-created_at", "-pk")
    serializer_class = FillSerializer
    filterset_class = FillFilter
    fields = tuple(FillSerializer().fields)


@extend_schema_view(
    list=extend_schema(
        summary="Positions (open and closed; filter open=true).",
        responses={200: PositionRowSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(summary="One position.", responses={200: PositionRowSerializer, **READ_ERRORS}),
)
class PositionViewSet(AccountScopedViewSet):
    queryset = Position.objects.order_by("account_id", "symbol")
    serializer_class = PositionRowSerializer
    filterset_class = PositionFilter
    fields = tuple(PositionRowSerializer().fields)


class _ManualTradeView(APIView):
    permission_classes = [IsAuthenticated, may("force_trade")]
    input_serializer = ForceEntrySerializer
    side = "buy"

    def post(self, request):
        data = valid(self.input_serializer, request.data)
        account = account_for(request, data.get("account"))
        order = manual_order_place(
            account_id=account.pk,
            symbol=data["symbol"],
            side=self.side,
            amount=data.get("amount"),
            actor=request_actor(request),
            reason=data["reason"],
        )
        row = Order.objects.filter(pk=order.pk).values(*OrderViewSet.fields).get()
        return Response(OrderViewSet.row(OrderViewSet(), row), status=201)


class ForceEntryView(_ManualTradeView):
    @extend_schema(
        summary="Force a manual entry: a market buy through the pre-trade gate, audited with its reason.",
        description="Refused (409, `risk_refused`) by the same gate rules as the engine's orders. Signs of "
        "operator tilt (an entry soon after a losing exit, too many manual trades an hour) raise an alert.",
        request=ForceEntrySerializer,
        responses={201: OrderSerializer, **WRITE_ERRORS},
    )
    def post(self, request):
        return super().post(request)


class ForceExitView(_ManualTradeView):
    input_serializer = ForceExitSerializer
    side = "sell"

    @extend_schema(
        summary="Force a manual exit: sell all (or `amount`) of a position at market, audited with its reason.",
        request=ForceExitSerializer,
        responses={201: OrderSerializer, **WRITE_ERRORS},
    )
    def post(self, request):
        return super().post(request)


class PerformanceView(APIView):
    @extend_schema(
        summary="Realized P&L, fees, orders and winning exits per symbol or per strategy.",
        parameters=[PerformanceQuerySerializer],
        responses={200: PerformanceSerializer, **READ_ERRORS},
    )
    def get(self, request):
        query = valid(PerformanceQuerySerializer, request.query_params)
        account = account_for(request, query.get("account"))
        select = performance.performance_by_symbol if query["by"] == "symbol" else performance.performance_by_strategy
        rows = [plain(r) for r in select(account_id=account.pk)]
        unpriced = performance.unpriced_fees(account_id=account.pk)
        return Response({"account": account.pk, "by": query["by"], "rows": rows, "unpriced_fees": unpriced})


class ProfitView(APIView):
    @extend_schema(
        summary="Profit per UTC day, week or month, from the equity snapshots.",
        parameters=[ProfitQuerySerializer],
        responses={200: ProfitSerializer, **READ_ERRORS},
    )
    def get(self, request):
        query = valid(ProfitQuerySerializer, request.query_params)
        account = account_for(request, query.get("account"))
        rows = performance.profit_by_period(account=account, period=query["period"], periods=query["periods"])
        return Response({"account": account.pk, "period": query["period"], "rows": [plain(r) for r in rows]})


class TradeStatsView(APIView):
    @extend_schema(
        summary="Trade statistics of closed trades: win rate, profit factor, averages, best and worst.",
        parameters=[TradeStatsQuerySerializer],
        responses={200: TradeStatsSerializer, **READ_ERRORS},
    )
    def get(self, request):
        query = valid(TradeStatsQuerySerializer, request.query_params)
        account = account_for(request, query.get("account"))
        since = timezone.now() - timedelta(days=query["days"]) if query.get("days") else None
        stats = performance.trade_statistics(account_id=account.pk, since=since)
        return Response({"account": account.pk, **plain(stats)})
