from django.urls import path

from caducee.mss import views

app_name = "mss"

urlpatterns = [
    path("", views.inbox_view, name="inbox"),
    path("message/<int:message_id>/", views.message_view, name="message"),
    path("message/<int:message_id>/correspondant/", views.add_correspondent_view, name="add_correspondent"),
    path("a-rattacher/", views.worklist_view, name="worklist"),
    path("document/<int:received_id>/rattacher/", views.attach_view, name="attach"),
    path("envoyes/", views.sent_view, name="sent"),
    path("envoyer/", views.compose_view, name="compose"),
    path("patient/<int:patient_id>/", views.conversation_view, name="conversation"),
    path("patient/<int:patient_id>/fin/", views.conversation_end_view, name="conversation_end"),
    path("test/", views.test_message_view, name="test"),
    path("relever/", views.sync_view, name="sync"),
    path("boites/", views.mailboxes_view, name="mailboxes"),
]
