from django.apps import AppConfig


class GenesisSiteConfig(AppConfig):
    name = "genesis_site"
    verbose_name = "Genesis site"

    def ready(self):
        # Connects the signals that end the web processes' cached token checks when a token or a
        # user changes, in every process (a shell, a command, a worker), not only in those
        # that happened to import the API's authentication.
        from genesis_site import authentication  # noqa: F401
