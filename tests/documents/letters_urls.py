"""The project's URLs plus the letter screens, for tests until config/urls.py includes them itself."""

from django.urls import include, path

from caducee.config.urls import urlpatterns as project_urlpatterns

urlpatterns = list(project_urlpatterns)
if not any(getattr(pattern, "namespace", None) == "letters" for pattern in urlpatterns):
    urlpatterns.append(path("documents/", include("caducee.documents.letters.urls")))
