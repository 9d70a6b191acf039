from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "caducee.core"
    label = "core"
    verbose_name = "Socle"
