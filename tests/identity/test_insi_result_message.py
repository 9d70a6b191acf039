"""Issue 13 §3: the INSi « not found » outcome was shown twice (« Aucune identité trouvée — Aucune identite
trouvee »: our label, then INSi's own label without accents). INSi's message is shown only when it adds something."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from caducee.identity.models import InsiCall

pytestmark = pytest.mark.django_db


def _page(client: Client, secretary: Any, identity: Any, outcome: str, message: str) -> str:
    call = InsiCall.objects.create(
        identity=identity,
        operation=InsiCall.Operation.TRAITS,
        endpoint="https://insi.test",
        outcome=outcome,
        message=message,
        attempts=3,
    )
    client.force_login(secretary)
    return client.get(f"/identite/{identity.pk}/insi/{call.pk}/").content.decode()


def test_not_found_is_said_once(client: Client, secretary: Any, make_patient: Any) -> None:
    """Fails before the fix: the page read « Aucune identité trouvée — Aucune identite trouvee »."""
    identity = make_patient().identity
    page = _page(client, secretary, identity, InsiCall.Outcome.NOT_FOUND, "Aucune identite trouvee")
    assert page.count("Aucune identit") == 1


def test_a_message_that_adds_something_is_kept(client: Client, secretary: Any, make_patient: Any) -> None:
    identity = make_patient().identity
    page = _page(client, secretary, identity, InsiCall.Outcome.UNAVAILABLE, "Délai dépassé après 3 essais")
    assert "Délai dépassé après 3 essais" in page
