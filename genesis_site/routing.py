from django.urls import path

from trading.consumers import AccountConsumer

websocket_urlpatterns = [
    path("ws/accounts/<int:account_id>/", AccountConsumer.as_asgi()),
]
