from django.urls import path

from caducee.patients import views

# The "patients" namespace also holds the top floor's patient screens (chart, creation from the carte Vitale):
# config/urls.py joins them with `caducee.cabinet.urls.patient_patterns`.
app_name = "patients"
urlpatterns = [
    path("", views.patient_list, name="list"),
    path("patients/nouveau/", views.patient_new, name="new"),
]
