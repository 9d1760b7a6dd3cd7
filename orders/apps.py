from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from exchange.health import register_engine_probe
        from markets.services import status_listeners
        from orders import gateway

        status_listeners.append(lambda market: gateway.push_status(market.symbol, market.status))
        register_engine_probe(gateway.shard_states)
