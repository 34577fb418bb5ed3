from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from trading import fanout
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
        # Events reach this socket through the process's one subscription of the group
        # (trading/fanout.py), not through a layer channel per dashboard.
        await fanout.join(self.channel_layer, self.group, self, self.base_send)
        await self.accept()
        fanout.opened(self.group, self)

    async def disconnect(self, code):
        if self.group:
            await fanout.leave(self.group, self)

    async def receive_json(self, content, **kwargs):
        # Controls go through the HTTP API, where CSRF and permissions apply; the socket
        # only carries server events. Say so instead of silently dropping the message.
        await self.send_json({"type": "error", "error": "this socket accepts no commands; use the API"})
