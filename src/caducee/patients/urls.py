from django.urls import path

from caducee.patients import views

# The "patients" namespace also holds the top floor's patient screens (chart, creation from the carte Vitale, the
# care team's directory search): config/urls.py joins them with `caducee.cabinet.urls.patient_patterns`.
app_name = "patients"
urlpatterns = [
    path("", views.patient_list, name="list"),
    path("patients/nouveau/", views.patient_new, name="new"),
    path("patients/<int:patient_id>/coordonnees/", views.contact_edit, name="contact_edit"),
    path("patients/<int:patient_id>/medecin-traitant/", views.medecin_traitant_edit, name="medecin_traitant_edit"),
    path("patients/<int:patient_id>/equipe/<int:link_id>/retirer/", views.care_team_remove, name="care_team_remove"),
]
