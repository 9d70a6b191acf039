from django.urls import path

from caducee.patients import views

app_name = "patients"
urlpatterns = [
    path("", views.patient_list, name="list"),
    path("patients/nouveau/", views.patient_new, name="new"),
    path("patients/nouveau/carte-vitale/", views.patient_new_vitale, name="new_vitale"),
    path("patients/nouveau/saisie/", views.patient_new_form, name="new_form"),
    path("patients/<int:patient_id>/", views.patient_chart, name="chart"),
]
