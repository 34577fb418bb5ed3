from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from trading.live import account_group
from trading.selectors import account_visible


class AccountConsumer(AsyncJsonWebsocketConsumer):
    """Live events of one account. Thin: authenticate from the scope, authorize the group
    join through the one visibility rule, then only forward what the server publishes."""

    group: str | None = None

    async def connect(self):
        user = self.scope.get("user")
        account_id = self.scope["url_route"]["kwargs"]["account_id"]
        allowed = (
            user is not None
            and user.is_authenticated
            and await database_sync_to_async(account_visible)(user=user, account_id=account_id)
        )
        if not allowed:
            await self.close(code=4403)  # before accept: the handshake is refused with 403
            return
        self.group = account_group(account_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # Controls go through the HTTP API, where CSRF and permissions apply; the socket
        # only carries server events. Say so instead of silently dropping the message.
        await self.send_json({"type": "error", "error": "this socket accepts no commands; use the API"})

    async def dispatch(self, message):
        # Channels closes stale database connections before every handler: one hop to the
        # single sync thread per message. Forwarding a pushed event touches no database, and
        # with 200 dashboards open the hops queued behind each other for ~200 ms
        # (bench/websocket.py), so pushed events skip it.
        if message["type"] == "account.event":
            await self.account_event(message)
            return
        await super().dispatch(message)

    async def account_event(self, message):
        await self.send(text_data=message["text"])  # JSON encoded once by the publisher
