from django.urls import path

from caducee.cabinet import consultation_views as views

app_name = "consultations"
urlpatterns = [
    path("patient/<int:patient_id>/nouvelle/", views.consultation_new, name="new"),
    path("<int:consultation_id>/", views.consultation_detail, name="detail"),
    path("<int:consultation_id>/enregistrer/", views.consultation_submit, name="submit"),
]
