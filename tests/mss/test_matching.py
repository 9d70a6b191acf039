"""Patient matching of received documents: candidates by INS then by traits, scores with reasons, strictness (UX.07,
UX.09–12, LGC.MSS.01)."""

from __future__ import annotations

import pytest

from caducee.core.oids import OID_INS_NIR_TEST
from caducee.documents.received import PatientTraits
from caducee.identity.models import Status
from caducee.mss.matching import candidates_for, is_strict, known_here
from tests.documents.cda_records import TEST_INS, qualify

pytestmark = pytest.mark.django_db

INCOMING = PatientTraits(
    ins_matricule=TEST_INS,
    ins_oid=OID_INS_NIR_TEST,
    birth_name="ADRTROIS",
    first_given_name="DOMINIQUE",
    given_names="DOMINIQUE",
    birth_date="1997-02-26",
    sex="F",
)


def _with(**changes: str) -> PatientTraits:
    return PatientTraits(**{**INCOMING.as_dict(), **changes})


def test_strict_match_scores_100(make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = qualify(make_patient())
    (best,) = candidates_for(INCOMING)
    assert (best.patient_id, best.score, best.strict) == (patient.pk, 100, True)
    assert best.reasons == (
        "matricule INS identique",
        "nom de naissance identique",
        "premier prénom identique",
        "date de naissance identique",
        "sexe identique",
    )


@pytest.mark.parametrize(
    ("change", "score", "reason"),
    [
        ({"birth_name": "ADRTROI"}, 94, "nom de naissance proche (93 %)"),
        ({"first_given_name": "DOMINIK"}, 93, "premier prénom proche (75 %)"),
        ({"birth_date": "1997-26-02"}, 92, "date de naissance proche (jour/mois inversés ou une différence)"),
        ({"birth_date": "1980-05-01"}, 85, "date de naissance différente"),
        ({"birth_date": "1997-02-27"}, 92, "date de naissance proche (jour/mois inversés ou une différence)"),
        ({"sex": "M"}, 90, "sexe différent"),
        ({"ins_oid": "1.2.250.1.213.1.4.8"}, 95, "OID de l'INS différent"),
    ],
)
def test_one_trait_off_is_not_strict(make_patient, change, score, reason) -> None:  # type: ignore[no-untyped-def]
    qualify(make_patient())
    (best,) = candidates_for(_with(**change))
    assert not best.strict and reason in best.reasons
    assert best.score == score


def test_a_different_matricule_weighs_against(make_patient) -> None:  # type: ignore[no-untyped-def]
    qualify(make_patient())
    (best,) = candidates_for(_with(ins_matricule="297022A02099999"))
    assert not best.strict and "matricule INS différent" in best.reasons and best.score == 30


def test_same_traits_on_a_non_qualified_identity_stops_at_99(make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = qualify(make_patient())
    identity = patient.identity
    identity.status = Status.RECUP
    identity.save()
    (best,) = candidates_for(INCOMING)
    assert (best.score, best.strict) == (99, False) and "identité locale au statut RECUP" in best.reasons
    assert known_here(INCOMING, identity) and not is_strict(INCOMING, identity)  # R52 exception, not UX.07


def test_without_ins_traits_are_scaled_and_candidates_sorted(make_patient) -> None:  # type: ignore[no-untyped-def]
    exact = make_patient()
    homonym = make_patient(birth_date="02/03/1980")
    make_patient(birth_name="SANSRAPPORT", first_given_name="PAUL", sex="M", birth_date="01/01/1950")
    found = candidates_for(_with(ins_matricule="", ins_oid=""))
    assert [c.patient_id for c in found] == [exact.pk, homonym.pk]
    assert found[0].score == 99 and found[0].reasons[0] == "pas d'INS dans le document"
    assert found[1].score == 75 and "date de naissance différente" in found[1].reasons


def test_accents_and_case_do_not_matter_and_given_names_count(make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient(
        birth_name="Éçole", first_given_name="Marie", birth_given_names="Marie Hélène", birth_date="01/01/1960"
    )
    found = candidates_for(
        PatientTraits(birth_name="ECOLE", first_given_name="HELENE", birth_date="1960-01-01", sex="F")
    )
    assert found[0].patient_id == patient.pk
    assert "premier prénom parmi les prénoms de naissance du dossier" in found[0].reasons


def test_two_identities_with_the_same_ins_are_two_candidates(make_patient) -> None:  # type: ignore[no-untyped-def]
    first = qualify(make_patient())
    second = make_patient(birth_name="AUTRE", first_given_name="NOM", birth_date="01/01/1950")
    second.identity.ins_matricule, second.identity.ins_oid = TEST_INS, OID_INS_NIR_TEST
    second.identity.save()
    found = candidates_for(INCOMING)
    assert [c.patient_id for c in found] == [first.pk, second.pk] and found[0].strict and not found[1].strict
