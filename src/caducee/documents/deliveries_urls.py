from django.urls import path

from caducee.documents import deliveries

app_name = "deliveries"
urlpatterns = [
    path("envois/", deliveries.deliveries_view, name="list"),
    path("envois/<int:delivery_id>/renvoyer/", deliveries.delivery_resend, name="resend"),
]
