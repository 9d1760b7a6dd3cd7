from django.urls import path

from orders import api

urlpatterns = [
    path("spot/orders", api.OrdersView.as_view()),
    path("spot/orders/<str:order_id>", api.OrderView.as_view()),
    path("spot/fills", api.FillsView.as_view()),
]
