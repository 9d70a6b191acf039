from django.urls import path

from caducee.accounts import replacement_views

app_name = "replacement"
urlpatterns = [
    path("remplacement/", replacement_views.replacement_page, name="page"),
    path("remplacement/<int:replacement_id>/fin/", replacement_views.replacement_end, name="end"),
]
