"""The top floor's screens, joined by config/urls.py to the namespaces users and templates know ("patients",
"documents"), so a screen moved up keeps its URL and its name."""

from django.urls import path

from caducee.cabinet import document_views, import_views, patient_views

patient_patterns = [
    path("patients/nouveau/carte-vitale/", patient_views.patient_new_vitale, name="new_vitale"),
    path("patients/nouveau/saisie/", patient_views.patient_new_form, name="new_form"),
    path("patients/<int:patient_id>/", patient_views.patient_chart, name="chart"),
    path("patients/<int:patient_id>/equipe/annuaire/", patient_views.care_team_directory, name="care_team_directory"),
]

document_patterns = [
    path("patient/<int:patient_id>/", document_views.documents_view, name="list"),
    path("<int:document_id>/", document_views.document_view, name="detail"),
    path("patient/<int:patient_id>/importer/", import_views.document_import_view, name="import"),
]
