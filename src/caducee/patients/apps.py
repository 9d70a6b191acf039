from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "caducee.patients"
    label = "patients"
    verbose_name = "Patients"
