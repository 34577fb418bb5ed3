"""ASGI lifespan: starts and stops the embedded scheduler with the server."""

import logging

from django.conf import settings

from genesis_site.scheduler import EmbeddedScheduler

logger = logging.getLogger(__name__)


class LifespanMiddleware:
    def __init__(self, app):
        self.app = app
        self.scheduler: EmbeddedScheduler | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if settings.EMBEDDED and settings.GENESIS_EMBEDDED_SCHEDULER:
                    self.scheduler = EmbeddedScheduler(settings.CELERY_BEAT_SCHEDULE)
                    self.scheduler.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.scheduler:
                    await self.scheduler.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
