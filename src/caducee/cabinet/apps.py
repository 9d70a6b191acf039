from django.apps import AppConfig


class CabinetConfig(AppConfig):
    name = "caducee.cabinet"
    label = "cabinet"
    verbose_name = "Cabinet (cas d'usage)"
