from django.urls import path

from caducee.dmp import views

app_name = "dmp"
urlpatterns = [
    path("patient/<int:patient_id>/", views.dmp_view, name="panel"),
    path("patient/<int:patient_id>/interroger/", views.dmp_query_view, name="query"),
    path("patient/<int:patient_id>/consentement/", views.dmp_consent_view, name="consent"),
    path("document/<int:entry_id>/", views.dmp_entry_view, name="entry"),
    path("document/<int:entry_id>/pdf/", views.dmp_entry_pdf, name="entry_pdf"),
    path("document/<int:entry_id>/visibilite/", views.dmp_visibility_view, name="visibility"),
    path("document/<int:entry_id>/supprimer/", views.dmp_delete_view, name="delete"),
    path("document/<int:entry_id>/archiver/", views.dmp_archive_view, name="archive"),
    path("envoyer/<int:document_id>/", views.document_send_view, name="send"),
]
