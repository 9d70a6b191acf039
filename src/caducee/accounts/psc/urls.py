from django.urls import path

from caducee.accounts.psc import views

app_name = "psc"
urlpatterns = [
    path("connexion/psc/", views.start_view, name="start"),
    path("connexion/psc/retour/", views.callback_view, name="callback"),
    path("connexion/psc/rapprochement/", views.link_view, name="link"),
    path("connexion/psc/situation/", views.situation_view, name="situation"),
    path("connexion/psc/deconnecte/", views.logged_out_view, name="logged_out"),
]
