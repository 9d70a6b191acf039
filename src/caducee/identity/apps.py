from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "caducee.identity"
    label = "identity"
    verbose_name = "Identité (INS)"
