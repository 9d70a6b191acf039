"""Edit screens of the structured record, included under `dossier/` next to caducee.record.urls:
`path("dossier/", include("caducee.record.edit_urls"))` in config/urls.py."""

from django.urls import path

from caducee.record import edit_views

app_name = "record_edit"
urlpatterns = [
    path("<int:patient_id>/<slug:kind>/<int:entry_id>/modifier/", edit_views.entry_edit, name="edit"),
]
