"""URLs of the structured record, included under `dossier/` (config/urls.py)."""

from django.urls import path

from caducee.record import views

app_name = "record"
urlpatterns = [
    path("terminologie/", views.terminology_search, name="terminology"),
    path("<int:patient_id>/", views.record_page, name="page"),
    path("<int:patient_id>/historique/", views.record_changes, name="changes"),
    path("<int:patient_id>/allergies/declaration/", views.allergy_statement, name="allergy_statement"),
    path("<int:patient_id>/probleme/<int:entry_id>/resoudre/", views.problem_resolve, name="problem_resolve"),
    path("<int:patient_id>/traitement/<int:entry_id>/arreter/", views.treatment_stop, name="treatment_stop"),
    path("<int:patient_id>/<slug:kind>/ajouter/", views.entry_add, name="add"),
    path("<int:patient_id>/<slug:kind>/<int:entry_id>/supprimer/", views.entry_delete, name="delete"),
]
