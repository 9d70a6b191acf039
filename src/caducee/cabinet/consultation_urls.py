from django.urls import path

from caducee.cabinet import consultation_actions as actions
from caducee.cabinet import consultation_views as views

app_name = "consultations"
urlpatterns = [
    path("patient/<int:patient_id>/nouvelle/", views.consultation_new, name="new"),
    path("<int:consultation_id>/", views.consultation_detail, name="detail"),
    path("<int:consultation_id>/enregistrer/", views.consultation_submit, name="submit"),
    path("<int:consultation_id>/supprimer/", actions.consultation_remove, name="delete"),
    path("<int:consultation_id>/pdf/", actions.consultation_pdf, name="pdf"),
]
