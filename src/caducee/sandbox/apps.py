from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "caducee.sandbox"
    label = "sandbox"
    verbose_name = "Bac à sable des services nationaux"
