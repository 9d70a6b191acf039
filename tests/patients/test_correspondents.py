"""The address book: correspondents, their links to patients, ANNU/GEN.03 (issue 5 §5)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from caducee.core.models import AuditEvent
from caducee.mss.annuaire.records import DirectoryRecord
from caducee.mss.models import DirectoryEntry
from caducee.patients.correspondents import (
    correspondent_create,
    correspondent_from_directory,
    correspondent_from_sender,
    correspondent_link,
    correspondent_unlink,
    correspondent_update,
    split_display_name,
)
from caducee.patients.models import Correspondent, CorrespondentRole
from caducee.patients.selectors import correspondent_by_address, patient_correspondent, patient_correspondents

pytestmark = pytest.mark.django_db


def _entry(**values: str) -> DirectoryEntry:
    record = DirectoryRecord(
        address="anne.leroy@demo.mssante.fr",
        kind="PER",
        national_id="899700456789",
        civility="DR",
        family_name="LEROY",
        given_name="Anne",
        profession_code="10",
        profession="Médecin",
        specialty_code="SM04",
        specialty="Cardiologie et maladies vasculaires",
        organisation="CABINET DE CARDIOLOGIE BELLECOUR",
        address_line="4 PL BELLECOUR",
        postal_code="69002",
        city="LYON",
    )
    for name, value in values.items():
        setattr(record, name, value)
    return DirectoryEntry.objects.create(**record.model_values())


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_create_by_hand_and_update(secretary) -> None:  # type: ignore[no-untyped-def]
    c = correspondent_create(
        actor=secretary, family_name="DURAND", given_name="Paul", mss_address=" Paul.Durand@Medecin.MSSante.fr "
    )
    assert (c.source, c.mss_address) == ("manuel", "paul.durand@medecin.mssante.fr")
    correspondent_update(actor=secretary, correspondent=c, phone="04 78 00 00 00", family_name="DURAND")
    c.refresh_from_db()
    assert c.phone == "04 78 00 00 00"
    events = AuditEvent.objects.filter(action__startswith="correspondent.").order_by("id")
    assert [(e.action, e.detail.get("fields")) for e in events] == [
        ("correspondent.create", None),
        ("correspondent.update", "phone"),
    ]
    with pytest.raises(ValidationError, match="Adresse MSSanté invalide"):
        correspondent_update(actor=secretary, correspondent=c, mss_address="pas une adresse")
    with pytest.raises(ValidationError, match="au moins un nom"):
        correspondent_create(actor=secretary, phone="0102030405")


def test_patient_mailbox_is_not_a_correspondent(secretary) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="patient"):
        correspondent_create(actor=secretary, family_name="X", mss_address="1234567890123" + "45@patient.mssante.fr")


def test_permissions(administrator, make_patient, secretary) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        correspondent_create(actor=administrator, family_name="DURAND")
    c = correspondent_create(actor=secretary, family_name="DURAND")
    patient = make_patient()
    with pytest.raises(PermissionDenied):
        correspondent_link(actor=administrator, patient=patient, correspondent=c, role=CorrespondentRole.AUTRE)
    with pytest.raises(PermissionDenied):
        correspondent_from_directory(entry=_entry(), actor=administrator)


def test_from_directory_creates_once_and_fills_blanks(secretary) -> None:  # type: ignore[no-untyped-def]
    entry = _entry()
    c = correspondent_from_directory(entry=entry)
    assert (c.source, c.national_id, c.civility, c.family_name, c.given_name) == (
        "annuaire",
        "899700456789",
        "Dr",
        "LEROY",
        "Anne",
    )
    assert (c.specialty, c.city, c.mss_address) == ("Cardiologie et maladies vasculaires", "LYON", entry.address)
    c.phone, c.city, c.specialty = "04 00 00 00 00", "LYON 2E", ""
    c.save()
    again = correspondent_from_directory(entry=entry, actor=secretary)
    assert again.pk == c.pk and Correspondent.objects.count() == 1
    assert (again.city, again.phone) == ("LYON 2E", "04 00 00 00 00")  # hand-entered values kept
    assert again.specialty == "Cardiologie et maladies vasculaires"  # blank filled
    assert _actions()[-1] == "correspondent.update"


def test_link_roles_and_list(secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    leroy = correspondent_from_directory(entry=_entry())
    durand = correspondent_create(actor=secretary, family_name="DURAND", mss_address="p.durand@medecin.mssante.fr")
    adam = correspondent_create(actor=secretary, family_name="ADAM", mss_address="adam@medecin.mssante.fr")
    correspondent_link(actor=secretary, patient=patient, correspondent=leroy, role=CorrespondentRole.SPECIALISTE)
    correspondent_link(actor=secretary, patient=patient, correspondent=adam, role=CorrespondentRole.ADRESSEUR)
    correspondent_link(actor=secretary, patient=patient, correspondent=durand, role=CorrespondentRole.MEDECIN_TRAITANT)
    again = correspondent_link(
        actor=secretary, patient=patient, correspondent=durand, role=CorrespondentRole.MEDECIN_TRAITANT
    )
    links = patient_correspondents(patient)
    assert [(link.correspondent.family_name, link.role) for link in links] == [
        ("DURAND", "medecin_traitant"),
        ("ADAM", "adresseur"),
        ("LEROY", "specialiste"),
    ]
    assert again.pk == links[0].pk
    assert patient_correspondent(patient, CorrespondentRole.MEDECIN_TRAITANT) == durand
    link_events = AuditEvent.objects.filter(action="correspondent.link", patient_id=patient.pk)
    assert link_events.count() == 3
    with pytest.raises(ValidationError, match="Rôle"):
        correspondent_link(actor=secretary, patient=patient, correspondent=adam, role="cousin")


def test_a_new_medecin_traitant_replaces_the_previous(secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    first = correspondent_create(actor=secretary, family_name="PREMIER")
    second = correspondent_create(actor=secretary, family_name="SECOND")
    correspondent_link(actor=secretary, patient=patient, correspondent=first, role=CorrespondentRole.MEDECIN_TRAITANT)
    correspondent_link(actor=secretary, patient=patient, correspondent=first, role=CorrespondentRole.ADRESSEUR)
    correspondent_link(actor=secretary, patient=patient, correspondent=second, role=CorrespondentRole.MEDECIN_TRAITANT)
    assert [(link.correspondent.family_name, link.role) for link in patient_correspondents(patient)] == [
        ("SECOND", "medecin_traitant"),
        ("PREMIER", "adresseur"),
    ]
    unlink = AuditEvent.objects.get(action="correspondent.unlink")
    assert unlink.detail == {"role": "medecin_traitant", "raison": "remplacé"} and unlink.patient_id == patient.pk


def test_unlink(secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    c = correspondent_create(actor=secretary, family_name="DURAND")
    correspondent_link(actor=secretary, patient=patient, correspondent=c, role=CorrespondentRole.ADRESSEUR)
    correspondent_link(actor=secretary, patient=patient, correspondent=c, role=CorrespondentRole.SPECIALISTE)
    assert correspondent_unlink(actor=secretary, patient=patient, correspondent=c, role="adresseur") == 1
    assert [link.role for link in patient_correspondents(patient)] == ["specialiste"]
    assert correspondent_unlink(actor=secretary, patient=patient, correspondent=c) == 1
    assert patient_correspondents(patient) == []
    assert Correspondent.objects.filter(pk=c.pk).exists()  # still in the address book


def test_from_sender_uses_the_directory(secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    """ANNU/GEN.03: one click adds the sender of a received message; the directory supplies the details."""
    patient = make_patient()
    entry = _entry()
    link = correspondent_from_sender(
        actor=secretary,
        patient=patient,
        address="Anne.Leroy@demo.mssante.fr",
        name="Dr Anne LEROY",
        directory_entry=entry,
    )
    assert link.role == "autre"
    assert link.correspondent.source == "annuaire"
    assert link.correspondent.specialty == "Cardiologie et maladies vasculaires"
    # Twice: the same correspondent and link.
    again = correspondent_from_sender(actor=secretary, patient=patient, address="anne.leroy@demo.mssante.fr")
    assert again.pk == link.pk and Correspondent.objects.count() == 1


def test_from_sender_unknown_to_the_directory(secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    link = correspondent_from_sender(
        actor=secretary,
        patient=patient,
        address="j.dupont@ch-exemple.mssante.fr",
        name="Dr Jean-Marc DUPONT",
        role=CorrespondentRole.ADRESSEUR,
    )
    c = link.correspondent
    assert (c.source, c.civility, c.given_name, c.family_name) == ("message", "Dr", "Jean-Marc", "DUPONT")
    assert link.role == "adresseur"
    assert correspondent_by_address("J.Dupont@ch-exemple.mssante.fr") == c
    with pytest.raises(ValidationError, match="patient"):
        correspondent_from_sender(actor=secretary, patient=patient, address="123456789012345@patient.mssante.fr")


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("Dr Anne LEROY", ("Dr", "Anne", "LEROY")),
        ("Pr Jean-Luc LE GALL", ("Pr", "Jean-Luc", "LE GALL")),
        ("Mme Sophie Petit", ("Mme", "Sophie", "Petit")),
        ("Secrétariat Cardiologie", ("", "Secrétariat", "Cardiologie")),
        ("MARTIN", ("", "", "MARTIN")),
        ("", ("", "", "")),
    ],
)
def test_split_display_name(display: str, expected: tuple[str, str, str]) -> None:
    parts = split_display_name(display)
    assert (parts["civility"], parts["given_name"], parts["family_name"]) == expected
