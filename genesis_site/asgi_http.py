"""Django's ASGI handler, serving each HTTP request in one hop to a worker thread.

Every view and middleware of Genesis is synchronous. Django's own ASGIHandler runs the
middleware stack in async mode: each sync middleware method, each `process_view` and the view
are separate `sync_to_async` calls, on a thread created for that request and joined after it,
and the request_started signal and `response.close()` are two more. Measured under uvicorn
(bench/api.py), that cost ~2 ms of CPU per request, five times the bare ping's own work, and
capped the server at ~180 requests/s on the 2-core reference machine.

This handler builds the middleware chain in sync mode, as WSGI does, and runs the whole request
(request_started, middleware, view, request_finished) as one call on a fixed pool of threads;
the event loop only reads the body and sends the response. Streaming responses are sent and
closed as Django does. Async views would run through async_to_sync, which works but buys
nothing; Genesis has none (WebSockets go through Channels, not this handler).
"""

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.urls import set_script_prefix


class SyncRequestHandler(ASGIHandler):
    def __init__(self):
        super().__init__()  # loads the middleware, in sync mode (below)
        threads = settings.GENESIS_WEB_THREADS
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="genesis-http")
        self._respond_async = sync_to_async(self._respond, thread_sensitive=False, executor=self.executor)
        self._close_async = sync_to_async(self._close, thread_sensitive=False, executor=self.executor)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=False, executor=self.executor)(request)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # No ThreadSensitiveContext: the request's sync code is one call on one pool thread.
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            response = await self._respond_async(scope, body_file)
            await self.send_response(response, send)
            if response.streaming:
                await self._close_async(response)
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        """The sync part of one request, on a pool thread: as WSGIHandler.__call__ does."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
        if not response.streaming:
            # The body is complete: close now, in this thread, so request_finished returns this
            # thread's database connection to the pool before the next request runs here.
            self._close(response)
        return response

    @staticmethod
    def _close(response):
        response.close()


def get_asgi_application() -> SyncRequestHandler:
    import django

    django.setup(set_prefix=False)
    return SyncRequestHandler()
