"""« Sécurité du compte » and the login's second step (issue 6)."""

from django.urls import path

from caducee.accounts import security_views

app_name = "security"
urlpatterns = [
    path("connexion/code/", security_views.login_code_view, name="login_code"),
    path("compte/securite/", security_views.security_view, name="account"),
    path("compte/securite/totp/", security_views.totp_enrol_view, name="totp_enrol"),
    path("compte/securite/totp/desactiver/", security_views.totp_disable_view, name="totp_disable"),
    path(
        "compte/securite/utilisateurs/<int:user_id>/totp/desactiver/",
        security_views.totp_disable_for_view,
        name="totp_disable_for",
    ),
]
