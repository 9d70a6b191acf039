"""Issue 13 §3: the Annuaire search of the "Envoyer" form said nothing when nothing was found and stopped silently at
10 results; it now says how many were found and offers the next page (ticked choices are kept across pages)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from caducee.mss.annuaire.records import DirectoryRecord
from caducee.mss.annuaire.search import forget_directory_cache
from caducee.mss.models import DirectoryEntry, Mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def directory() -> Any:
    forget_directory_cache()
    DirectoryEntry.objects.bulk_create(
        DirectoryEntry(
            **DirectoryRecord(
                address=f"dr{i:02d}.marin@m.mssante.fr",
                kind="PER",
                family_name="MARIN",
                given_name=f"Prénom{i:02d}",
                specialty="Cardiologie",
                profession="Médecin",
                city="LYON",
                postal_code="69003",
            ).model_values()
        )
        for i in range(25)
    )
    yield
    forget_directory_cache()


def _search(client: Client, patient: Any, query: str, **extra: str) -> str:
    data = {"patient": str(patient.pk), "recherche": query, **extra}
    return client.post("/messagerie/envoyer/", data).content.decode()


def test_the_search_says_how_many_and_offers_the_next_page(
    client: Client, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    """Fails before the fix: 10 names, no count, no next page."""
    client.force_login(doctor)
    page = _search(client, qual_patient, "mar lyon", chercher="1")
    assert "25 correspondants trouvés — 1 à 10 affichés." in page
    assert page.count('name="destinataire" value="dr') == 10
    assert 'name="page_annuaire" value="1">Résultats suivants' in page
    page = _search(client, qual_patient, "mar lyon", page_annuaire="2", destinataire="dr00.marin@m.mssante.fr")
    assert "25 correspondants trouvés — 21 à 25 affichés." in page
    assert "Résultats suivants" not in page and 'value="1">Résultats précédents' in page
    # The colleague ticked on the first page is still ticked.
    assert 'value="dr00.marin@m.mssante.fr" checked' in page


def test_the_search_says_when_nothing_is_found(
    client: Client, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    """Fails before the fix: the form came back without a word."""
    client.force_login(doctor)
    assert "Aucun correspondant trouvé dans l&#x27;annuaire" in _search(client, qual_patient, "zzz", chercher="1")
    assert "Tapez au moins 3 lettres du nom" in _search(client, qual_patient, "ma", chercher="1")
