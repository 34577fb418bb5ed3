import os

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, seed the demo, and serve Genesis (HTTP and WebSockets) with uvicorn."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-seed", action="store_true", help="skip the demo data")
        parser.add_argument(
            "--ws",
            choices=["websockets-sansio", "websockets"],
            default="websockets-sansio",
            help="uvicorn's WebSocket implementation; the default is the one bench/websocket.py found cheapest",
        )

    def handle(self, *args, host, port, no_seed, ws, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not no_seed:
            call_command("seed_demo")
        mode = "embedded (SQLite, in-process scheduler)" if settings.EMBEDDED else "full stack (web only)"
        self.stdout.write(self.style.SUCCESS(f"Genesis {mode}: http://{host}:{port}/"))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genesis_site.settings.dev")
        uvicorn.run(
            "genesis_site.asgi:application",
            host=host,
            port=port,
            lifespan="on",
            log_level="warning",
            proxy_headers=False,
            # websockets' sans-I/O protocol: a send to a socket whose buffer has room runs to the
            # write without waiting, ~15-25% less server CPU per pushed event than the legacy
            # `websockets` implementation (bench/README.md). Pinned rather than "auto" so that the
            # Dockerfile's CMD and this serve the same one (wsproto, the third, is not installed).
            ws=ws,
            # Every event goes to every dashboard of the account: compressing it once per socket
            # cost ~15 us of the server's event loop per dashboard (3 of ~9 ms for 200,
            # bench/websocket.py), and as much again in each browser, to save a few hundred
            # bytes of a ~1 KB event. Same in the Dockerfile's CMD.
            ws_per_message_deflate=False,
        )
