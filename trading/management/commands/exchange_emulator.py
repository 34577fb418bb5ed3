from django.core.management.base import BaseCommand

from trading.exchanges.emulator import emulator_arguments, emulator_serve


class Command(BaseCommand):
    help = (
        "Run the Binance-compatible exchange emulator on loopback (the mock exchange mode: point "
        "GENESIS_EXCHANGE_URL at it). Same as `python -m trading.exchanges.emulator`."
    )

    def add_arguments(self, parser):
        emulator_arguments(parser)

    def handle(self, *args, host, port, api_key, secret, balance, price, buy_fee_in_base, fee_asset, **options):
        emulator_serve(
            host=host,
            port=port,
            api_key=api_key,
            secret=secret,
            balance=balance,
            price=price,
            buy_fee_in_base=buy_fee_in_base,
            fee_asset=fee_asset,
        )
