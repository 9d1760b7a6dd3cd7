from django.core.management.base import BaseCommand

from markets.models import Market
from markets.services import create_market

DEMO_MARKETS = [
    {
        "symbol": "BTC_USDT",
        "base": "BTC",
        "quote": "USDT",
        "tick_size": "0.01",
        "lot_size": "0.00001",
        "min_notional": "5",
    },
    {
        "symbol": "ETH_USDT",
        "base": "ETH",
        "quote": "USDT",
        "tick_size": "0.01",
        "lot_size": "0.0001",
        "min_notional": "5",
    },
    {"symbol": "DF_USDT", "base": "DF", "quote": "USDT", "tick_size": "0.0001", "lot_size": "1", "min_notional": "1"},
]


class Command(BaseCommand):
    help = "Load the demo markets into an empty database (does nothing if any market exists)."

    def handle(self, *args: object, **options: object) -> None:
        if Market.objects.exists():
            self.stdout.write("markets exist; demo markets not loaded")
            return
        for spec in DEMO_MARKETS:
            create_market(**spec, maker_fee="0.001", taker_fee="0.002")
            self.stdout.write(f"created {spec['symbol']}")
