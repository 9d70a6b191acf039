from django.apps import AppConfig


class MssConfig(AppConfig):
    name = "caducee.mss"
    label = "mss"
    verbose_name = "Messagerie sécurisée de santé (MSSanté)"
