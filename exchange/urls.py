from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from exchange import api as access
from markets import api as markets
from wallets import api as wallets

urlpatterns = [
    path("", include("orders.urls")),  # first: POST /spot/orders is the hot path, resolved in order
    path("healthz", access.HealthView.as_view()),
    path("auth/token", access.TokenView.as_view()),
    path("spot/api-keys", access.ApiKeysView.as_view()),
    path("spot/api-keys/<str:api_key>", access.ApiKeyView.as_view()),
    path("spot/markets", markets.MarketsView.as_view()),
    path("spot/markets/<str:symbol>", markets.MarketView.as_view()),
    path("spot/balances", wallets.BalancesView.as_view()),
    path("spot/depth", markets.DepthView.as_view()),
    path("spot/trades", markets.TradesView.as_view()),
    path("spot/ticker/24hr", markets.TickerView.as_view()),
    path("admin/spot/markets", markets.AdminMarketsView.as_view()),
    path("admin/spot/markets/<str:symbol>/status", markets.AdminMarketStatusView.as_view()),
    path("admin/spot/balances/credit", wallets.AdminCreditView.as_view()),
    path("", include("wallets.urls")),
    path("", include("withdrawals.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]
