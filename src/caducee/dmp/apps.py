from django.apps import AppConfig


class DmpConfig(AppConfig):
    name = "caducee.dmp"
    label = "dmp"
    verbose_name = "DMP (Mon espace santé)"

    def ready(self) -> None:
        # The outbox channel "dmp" (not a signal: an explicit handler registration, see caducee.core.outbox).
        from caducee.dmp import handler  # noqa: F401 — registers on import
