"""ASGI entry point: HTTP through Django, WebSockets through Channels, lifespan handled here.

In the embedded mode the periodic tasks run inside this server's event loop (a lifespan task),
because the in-memory channel layer's queues belong to one loop (SPEC §1).
"""

import os

from genesis_site.asgi_http import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genesis_site.settings.dev")
# Django, each HTTP request served in one hop to a worker thread (see asgi_http).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from genesis_site.lifespan import LifespanMiddleware  # noqa: E402
from genesis_site.routing import websocket_urlpatterns  # noqa: E402

application = LifespanMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # Origin checked against ALLOWED_HOSTS (a missing Origin is refused), then the
            # session user is put in the scope; consumers refuse anonymous users.
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )
)
