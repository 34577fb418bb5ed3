"""ASGI lifespan: starts and stops the periodic jobs with the server."""

import asyncio

from django.conf import settings

from genesis_site.scheduler import PeriodicRunner, background, beat_jobs, urgent

WATCHDOG_SECONDS = 10.0


def _watchdog() -> None:
    from risk.watchdog import watchdog_check  # imported once apps are ready

    watchdog_check()


class LifespanMiddleware:
    def __init__(self, app):
        self.app = app
        self.runners: list[PeriodicRunner] = []

    def _runners(self) -> list[PeriodicRunner]:
        runners = []
        if settings.EMBEDDED and settings.GENESIS_EMBEDDED_SCHEDULER:
            runners.append(PeriodicRunner(beat_jobs(settings.CELERY_BEAT_SCHEDULE), thread_name="genesis-scheduler"))
        if settings.GENESIS_WATCHDOG:
            runners.append(PeriodicRunner([("watchdog", WATCHDOG_SECONDS, _watchdog)], thread_name="genesis-watchdog"))
        return runners

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if settings.CELERY_TASK_ALWAYS_EAGER:  # embedded: long jobs run on this loop's side
                    background.bind(asyncio.get_running_loop())
                    urgent.bind(asyncio.get_running_loop())
                self.runners = self._runners()
                for runner in self.runners:
                    runner.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for runner in self.runners:
                    await runner.stop()
                background.bind(None)
                urgent.bind(None)
                await send({"type": "lifespan.shutdown.complete"})
                return
