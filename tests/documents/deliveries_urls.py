"""The project's URLs plus the "Envois" screen, for tests until config/urls.py includes it itself."""

from django.urls import include, path

from caducee.config.urls import urlpatterns as project_urlpatterns

urlpatterns = list(project_urlpatterns)
if not any(getattr(pattern, "namespace", None) == "deliveries" for pattern in urlpatterns):
    urlpatterns.append(path("", include("caducee.documents.deliveries_urls")))
