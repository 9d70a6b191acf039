from django.urls import path

from caducee.documents import views

# The "documents" namespace also holds the top floor's list and document page (with their DMP and MSSanté
# states): config/urls.py joins them with `caducee.cabinet.urls.document_patterns`.
app_name = "documents"
urlpatterns = [
    path("patient/<int:patient_id>/vsm/", views.vsm_now, name="vsm"),
    path("<int:document_id>/pdf/", views.document_pdf, name="pdf"),
    path("<int:document_id>/cda.xml", views.document_cda, name="cda"),
]
