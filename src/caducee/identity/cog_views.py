"""The birthplace search of the identity forms (issue 13 §1): a JSON list of places for the search-as-you-type."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from caducee.accounts.permissions import Perm, check_permission, has_permission
from caducee.identity.cog import place_label, places_search


@require_GET
def birthplace_search(request: HttpRequest) -> JsonResponse:
    """`?q=lyon` → [{"code": "69123", "label": "Lyon (69) — 69123"}, …]: for who may fill an identity form."""
    if not has_permission(request.user, Perm.PATIENT_ADMIN):
        check_permission(request.user, Perm.IDENTITY_MANAGE)
    query = request.GET.get("q", "")[:100]
    places = [{"code": p.code, "label": place_label(p)} for p in places_search(query)]
    return JsonResponse({"places": places})
