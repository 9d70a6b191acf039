from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("sante/", health, name="health"),
    path("", include("caducee.patients.urls")),
    path("", include("caducee.accounts.urls")),
    path("", include("caducee.accounts.security_urls")),  # 2FA, password (issue 6)
    path("", include("caducee.accounts.replacement_urls")),  # remplacement (issue 6)
    path("", include("caducee.accounts.psc.urls")),  # Pro Santé Connect (issue 6)
    path("identite/", include("caducee.identity.urls")),
    path("dossier/", include("caducee.record.urls")),
    path("dossier/", include("caducee.record.edit_urls")),
    path("consultations/", include("caducee.record.consultation_urls")),
    path("documents/", include("caducee.documents.urls")),
    path("dmp/", include("caducee.dmp.urls")),
    path("messagerie/", include("caducee.mss.urls")),
    path("documents/", include("caducee.documents.letters.urls")),
    path("", include("caducee.documents.deliveries_urls")),
]
