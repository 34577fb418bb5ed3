from django.contrib import admin

from compliance.admin import ReadOnlyAdmin
from trading.models import Fill, Order, Position, Strategy, TradingAccount


@admin.register(TradingAccount)
class TradingAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "exchange_id", "mode", "quote_currency", "stop_level", "last_tick_at")
    list_filter = ("mode", "stop_level")
    search_fields = ("name",)
    # Mode, stop level and balances change only through services, which audit them.
    readonly_fields = ("mode", "stop_level", "stop_reason", "cash_balance", "feed_cursor", "tick_seq", "last_tick_at")
    filter_horizontal = ("members",)


@admin.register(Strategy)
class StrategyAdmin(ReadOnlyAdmin):
    list_display = ("name", "account", "kind", "tier", "state", "enabled")
    list_filter = ("state", "tier", "kind")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("idempotency_key", "account", "symbol", "side", "amount", "status", "average_price", "created_at")
    list_filter = ("status", "side", "adopted", "account")
    search_fields = ("idempotency_key", "exchange_order_id", "correlation_id")


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("order", "symbol", "side", "amount", "price", "fee", "created_at")
    list_filter = ("side", "account")


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("account", "symbol", "quantity", "average_cost", "realized_pnl", "mark_price")
