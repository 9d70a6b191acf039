from django.urls import path

from caducee.accounts import audit_views, views

app_name = "accounts"
urlpatterns = [
    path("connexion/", views.login_view, name="login"),
    path("deconnexion/", views.logout_view, name="logout"),
    path("audit/", views.audit_view, name="audit"),
    path("audit/export.log", views.audit_export_view, name="audit_export"),
    path("audit/patient/<int:patient_id>/", audit_views.audit_patient_view, name="audit_patient"),
]
