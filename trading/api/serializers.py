from rest_framework import serializers


class AccountQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(
        required=False, min_value=1, help_text="Account id; may be omitted when you can see exactly one account."
    )


class AccountRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    exchange = serializers.CharField()
    quote_currency = serializers.CharField()


class PnlSerializer(serializers.Serializer):
    today = serializers.CharField()
    today_pct = serializers.CharField()
    week = serializers.CharField()
    week_pct = serializers.CharField()
    total = serializers.CharField()
    total_pct = serializers.CharField()


class PositionSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    quantity = serializers.CharField()
    average_cost = serializers.CharField()
    mark_price = serializers.CharField(allow_null=True)
    market_value = serializers.CharField()
    unrealized_pnl = serializers.CharField()
    realized_pnl = serializers.CharField()


class ConfigRefSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    sha256 = serializers.CharField()


class StatusSerializer(serializers.Serializer):
    """Documents the status shape; the data itself comes from trading.serializers.account_state,
    the same dict the dashboard and the live push use. Money fields are decimal strings."""

    account = AccountRefSerializer()
    seq = serializers.IntegerField(help_text="Sequence number of the account's live stream.")
    mode = serializers.ChoiceField(choices=["DRY_RUN", "PAPER", "LIVE"])
    stop_level = serializers.ChoiceField(choices=["none", "pause_entries", "halt", "flatten"])
    stop_reason = serializers.CharField(allow_blank=True)
    equity = serializers.CharField()
    cash = serializers.CharField()
    pnl = PnlSerializer()
    exposure_pct = serializers.CharField()
    positions = PositionSerializer(many=True)
    config = ConfigRefSerializer(allow_null=True)
    last_tick_at = serializers.DateTimeField(allow_null=True)
