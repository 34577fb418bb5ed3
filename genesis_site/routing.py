from django.urls import path

from trading.consumers import AccountConsumer
from validation.consumers import ValidationConsumer

websocket_urlpatterns = [
    path("ws/accounts/<int:account_id>/", AccountConsumer.as_asgi()),
    path("ws/validation/", ValidationConsumer.as_asgi()),
]
