from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from caducee.accounts import urls as accounts_urls
from caducee.cabinet import practice_views
from caducee.cabinet import urls as cabinet_urls
from caducee.documents import urls as documents_urls
from caducee.patients import urls as patients_urls

# The practice settings page composes accounts and identity (R19): top floor, name `accounts:practice` kept.
PRACTICE_PAGE = path("structure/", practice_views.practice_view, name="practice")


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("sante/", health, name="health"),
    # A namespace joins the lower app's screens and the top floor's (issue 12 §1): names and URLs unchanged.
    path("", include((patients_urls.urlpatterns + cabinet_urls.patient_patterns, "patients"))),
    path("", include(([*accounts_urls.urlpatterns, PRACTICE_PAGE], "accounts"))),
    path("", include("caducee.accounts.security_urls")),  # 2FA, password (issue 6)
    path("", include("caducee.accounts.replacement_urls")),  # remplacement (issue 6)
    path("", include("caducee.accounts.psc.urls")),  # Pro Santé Connect (issue 6)
    path("identite/", include("caducee.identity.urls")),
    path("dossier/", include("caducee.record.urls")),
    path("dossier/", include("caducee.record.edit_urls")),
    path("consultations/", include("caducee.cabinet.consultation_urls")),
    path("documents/", include((documents_urls.urlpatterns + cabinet_urls.document_patterns, "documents"))),
    path("dmp/", include("caducee.dmp.urls")),
    path("messagerie/", include("caducee.mss.urls")),
    path("documents/", include("caducee.documents.letters.urls")),
    path("", include("caducee.documents.deliveries_urls")),
]
