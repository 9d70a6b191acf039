from django.urls import path

from caducee.identity import cog_views, views

app_name = "identity"
urlpatterns = [
    path("<int:identity_id>/insi/", views.insi_query, name="insi"),
    path("<int:identity_id>/insi/<int:call_id>/", views.insi_result, name="insi_result"),
    path("<int:identity_id>/insi/<int:call_id>/accepter/", views.insi_accept, name="insi_accept"),
    path("<int:identity_id>/justificatif/", views.document_check, name="document"),
    path("<int:identity_id>/modifier/", views.identity_edit, name="edit"),
    path("<int:identity_id>/attributs/", views.identity_attributes, name="attributes"),
    path("lieux-de-naissance/", cog_views.birthplace_search, name="birthplace_search"),
    path("vigilance/", views.vigilance_list, name="vigilance"),
    path("vigilance/<int:case_id>/clore/", views.vigilance_close, name="vigilance_close"),
]
