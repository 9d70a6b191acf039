"""R17 search: birth date and/or first letters of any nom or prénom, ignoring accents, hyphens, apostrophes;
matricule only with its 15 characters and a valid key."""

from __future__ import annotations

import pytest

from caducee.patients.selectors import SearchError, patient_search

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_patient):  # type: ignore[no-untyped-def]
    return {
        "dartagnan": make_patient(
            birth_name="D'Artagnan de l'Hérault",
            first_given_name="Pierre-Alain",
            birth_date="17/06/2001",
            sex="M",
            birthplace_cog="",
        ),
        "adrtrois": make_patient(),
        "martin": make_patient(
            birth_name="Bernard",
            first_given_name="Élodie",
            birth_given_names="Élodie Marie",
            used_name="Martin",
            birth_date="03/04/1985",
            sex="F",
            birthplace_cog="69123",
        ),
    }


def _names(query: str) -> set[str]:
    return {p.identity.birth_name for p in patient_search(query)}


def test_birth_date_and_first_letters(people) -> None:  # type: ignore[no-untyped-def]
    assert _names("17/06/2001 dar") == {"D'ARTAGNAN DE L'HERAULT"}
    assert _names("17/06/2001") == {"D'ARTAGNAN DE L'HERAULT"}
    assert _names("17/06/2001 zzz") == set()


def test_any_name_ignoring_accents_hyphens_apostrophes(people) -> None:  # type: ignore[no-untyped-def]
    assert _names("dartag") == {"D'ARTAGNAN DE L'HERAULT"}
    assert _names("herault") == {"D'ARTAGNAN DE L'HERAULT"}
    assert _names("pierrea") == {"D'ARTAGNAN DE L'HERAULT"}
    assert _names("elo") == {"BERNARD"}
    assert _names("mari") == {"BERNARD"}  # second prénom de naissance
    assert _names("mart") == {"BERNARD"}  # nom utilisé
    assert _names("ber elo") == {"BERNARD"}


def test_matricule_needs_15_characters_and_a_valid_key(people, secretary) -> None:  # type: ignore[no-untyped-def]
    from caducee.identity.models import Identity

    Identity.objects.filter(pk=people["adrtrois"].identity.pk).update(ins_matricule="297022A02077878")
    assert _names("2 97 02 2A 020 778 78") == {"ADRTROIS"}
    with pytest.raises(SearchError, match="15 caractères"):
        list(patient_search("297022A020778"))
    with pytest.raises(SearchError, match="Clé"):
        list(patient_search("297022A02077877"))


def test_empty_query_returns_nothing(people) -> None:  # type: ignore[no-untyped-def]
    assert _names("") == set()
    assert _names("  - ' ") == set()
