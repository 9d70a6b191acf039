"""Test URLconf: the project's URLs plus the record edit screens (until config/urls.py includes them)."""

from django.urls import include, path

from caducee.config.urls import urlpatterns as project_urlpatterns

urlpatterns = list(project_urlpatterns)
if not any(getattr(p, "namespace", None) == "record_edit" for p in urlpatterns):
    urlpatterns.append(path("dossier/", include("caducee.record.edit_urls")))
