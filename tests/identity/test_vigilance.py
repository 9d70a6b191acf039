"""The identity-vigilance work list: potential duplicates, homonyms, failed INSi verifications."""

from __future__ import annotations

import pytest
from django.test import Client

from caducee.core.models import AuditEvent
from caducee.identity.models import VigilanceCase

pytestmark = pytest.mark.django_db


def test_work_list_shows_open_cases_and_closes_them(client: Client, secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    make_patient()
    make_patient()  # same traits: doublon potentiel
    client.force_login(secretary)
    page = client.get("/identite/vigilance/").content.decode()
    assert "Doublon potentiel" in page and page.count("ADRTROIS DOMINIQUE") >= 2
    case = VigilanceCase.objects.get()
    response = client.post(f"/identite/vigilance/{case.pk}/clore/", {"resolution": "Deux personnes distinctes"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.resolved_by == secretary and case.resolution == "Deux personnes distinctes"
    assert "Aucun signalement ouvert" in client.get("/identite/vigilance/").content.decode()
    assert AuditEvent.objects.filter(action="vigilance.resolve").count() == 1


def test_the_administrator_has_no_access_to_the_work_list(client: Client, administrator) -> None:  # type: ignore[no-untyped-def]
    client.force_login(administrator)
    assert client.get("/identite/vigilance/").status_code == 403
