"""Test URLconf: the project's URLs plus `dossier/` (until config/urls.py includes caducee.record.urls)."""

from django.urls import include, path

from caducee.config.urls import urlpatterns as project_urlpatterns

urlpatterns = list(project_urlpatterns)
if not any(getattr(p, "namespace", None) == "record" for p in urlpatterns):
    urlpatterns.append(path("dossier/", include("caducee.record.urls")))
