from django.urls import path

from trading.api.views import StatusView

urlpatterns = [
    path("status", StatusView.as_view(), name="status"),
]
