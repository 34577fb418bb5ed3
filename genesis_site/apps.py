from django.apps import AppConfig


class GenesisSiteConfig(AppConfig):
    name = "genesis_site"
    verbose_name = "Genesis site"
