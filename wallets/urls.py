from django.urls import path

from wallets import api

urlpatterns: list = [
    path("spot/transfer", api.TransferView.as_view()),
]
