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


def _ordered(query: str, limit: int = 50) -> list[str]:
    return [f"{p.identity.birth_name} {p.identity.first_given_name}" for p in patient_search(query, limit=limit)]


def test_name_prefixes_in_name_order_one_row_per_patient_up_to_the_limit(make_patient) -> None:  # type: ignore[no-untyped-def]
    make_patient(birth_name="Durand", first_given_name="Anne", birth_given_names="Anne Annabelle")
    make_patient(birth_name="Bernard", first_given_name="Annie")
    make_patient(birth_name="Durand", first_given_name="Alice", used_name="Annecy")
    # ANNE and ANNABELLE both match ANN: the patient comes once (R17 returns patients, not tokens).
    assert _ordered("ann") == ["BERNARD ANNIE", "DURAND ALICE", "DURAND ANNE"]
    assert _ordered("ann", limit=2) == ["BERNARD ANNIE", "DURAND ALICE"]
    assert _ordered("dur ann") == ["DURAND ALICE", "DURAND ANNE"]  # every word must match
    assert _ordered("ann dur annab") == ["DURAND ANNE"]


def test_search_follows_a_birth_name_change(make_patient, secretary) -> None:  # type: ignore[no-untyped-def]
    from caducee.identity.services import identity_update
    from caducee.identity.traits import clean_traits

    identity = make_patient(birth_name="Dupont", first_given_name="Anne").identity
    make_patient(birth_name="Durand", first_given_name="Anne")
    assert _ordered("ann") == ["DUPONT ANNE", "DURAND ANNE"]
    traits = {
        "birth_name": "Lefèvre",
        "first_given_name": "Anne",
        "birth_date": "26/02/1997",
        "sex": "F",
        "birthplace_cog": "2A020",
    }
    identity_update(actor=secretary, identity=identity, version=identity.version, traits=clean_traits(traits))
    assert _names("lef") == {"LEFEVRE"}
    assert _names("dup") == set()
    assert _names("dup ann") == set()
    # The sort key copied on the tokens follows the change (R17 results in name order).
    assert _ordered("ann") == ["DURAND ANNE", "LEFEVRE ANNE"]
