from django.apps import AppConfig


class MssConfig(AppConfig):
    name = "caducee.mss"
    label = "mss"
    verbose_name = "Messagerie sécurisée de santé (MSSanté)"

    def ready(self) -> None:
        # The outbox channel "mss" (not a signal: an explicit handler registration, see caducee.core.outbox).
        from caducee.mss import handler  # noqa: F401 — registers on import
