from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "caducee.documents"
    label = "documents"
    verbose_name = "Documents"
