from django.urls import path

from caducee.documents import views

app_name = "documents"
urlpatterns = [
    path("patient/<int:patient_id>/", views.documents_view, name="list"),
    path("patient/<int:patient_id>/vsm/", views.vsm_now, name="vsm"),
    path("<int:document_id>/", views.document_view, name="detail"),
    path("<int:document_id>/pdf/", views.document_pdf, name="pdf"),
    path("<int:document_id>/cda.xml", views.document_cda, name="cda"),
]
