from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "exchange"
    verbose_name = "Exchange access"

    def ready(self) -> None:
        from exchange import schema  # noqa: F401  registers the OpenAPI auth extensions
