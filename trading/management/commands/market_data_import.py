from django.core.management.base import BaseCommand, CommandError

from trading.replay import MarketDataInvalid, ohlcv_load
from trading.services.marketdata import candles_store


class Command(BaseCommand):
    help = "Import an OHLCV file (CSV or ccxt JSON) as candles; a malformed file is refused whole."

    def add_arguments(self, parser):
        parser.add_argument("path", help="a .csv (timestamp,open,high,low,close,volume) or ccxt .json file")
        parser.add_argument("--symbol", required=True, help="e.g. BTC/USDT")
        parser.add_argument("--timeframe", default="1m")
        parser.add_argument("--source", default="replay", help="venue or dataset name the candles belong to")

    def handle(self, *args, path, symbol, timeframe, source, **options):
        try:
            candles = ohlcv_load(path)
        except MarketDataInvalid as exc:
            raise CommandError(str(exc)) from None
        added = candles_store(source=source, symbol=symbol, timeframe=timeframe, candles=candles)
        self.stdout.write(f"{len(candles)} candles read, {added} new, {len(candles) - added} already stored")
