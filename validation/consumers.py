from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from validation.live import RUNS_GROUP


def _may_view_runs(user) -> bool:
    return user is not None and user.is_authenticated and user.has_perm("validation.view_validationrun")


class ValidationConsumer(AsyncJsonWebsocketConsumer):
    """Live progress of validation runs for the validation page. Thin: authorize the join by
    the view permission, then only forward what the server publishes."""

    joined = False

    async def connect(self):
        if not await database_sync_to_async(_may_view_runs)(self.scope.get("user")):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(RUNS_GROUP, self.channel_name)
        self.joined = True
        await self.accept()

    async def disconnect(self, code):
        if self.joined:
            await self.channel_layer.group_discard(RUNS_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        await self.send_json({"type": "error", "error": "this socket accepts no commands; use the API"})

    async def validation_event(self, message):
        await self.send_json(message["event"])
