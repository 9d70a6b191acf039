from django.apps import AppConfig


class RecordConfig(AppConfig):
    name = "caducee.record"
    label = "record"
    verbose_name = "Dossier médical"
