"""Mounted under documents/ by config/urls.py: `path("documents/", include("caducee.documents.letters.urls"))`."""

from django.urls import path

from caducee.documents.letters import views

app_name = "letters"
urlpatterns = [
    path("patient/<int:patient_id>/courrier/", views.letter_choose, name="new"),
    path("patient/<int:patient_id>/courrier/redaction/", views.letter_write, name="write"),
]
