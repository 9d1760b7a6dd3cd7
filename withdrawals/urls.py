from django.urls import path

from withdrawals import api

urlpatterns: list = [
    path("spot/withdraw/request", api.WithdrawRequestView.as_view()),
    path("spot/withdrawals", api.WithdrawalsView.as_view()),
    path("spot/withdrawals/<str:withdrawal_id>", api.WithdrawalView.as_view()),
]
