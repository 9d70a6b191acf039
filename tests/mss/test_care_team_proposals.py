"""Issue 13 §1: the send form proposes the patient's care team first. A colleague picked from the Annuaire Santé
while sending was saved as a correspondent « autre » but never offered again (only the médecin traitant and the
adresseur were proposed): now every correspondent of the patient with an MSSanté address is offered, médecin traitant
first, then by role, then the patient — none of them ticked by that alone (the arrêté's matrix ticks)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from caducee.mss.models import DirectoryEntry, Mailbox
from caducee.mss.selectors import proposed_recipients
from caducee.patients.models import Correspondent, CorrespondentRole, PatientCorrespondent

pytestmark = pytest.mark.django_db

PATIENT_BOX_SUFFIX = "@patient.mssante.fr"


def test_every_correspondent_of_the_care_team_is_proposed_in_role_order(
    doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    """Failed before: the pharmacist, the nurse and the « autre » were not proposed."""
    team = [
        ("PHARMA", "pharma@x.mssante.fr", CorrespondentRole.PHARMACIEN),
        ("AUTRE", "autre@x.mssante.fr", CorrespondentRole.AUTRE),
        ("SOIN", "soin@x.mssante.fr", CorrespondentRole.INFIRMIER),
        ("LEROY", "leroy@x.mssante.fr", CorrespondentRole.SPECIALISTE),
        ("DURAND", "durand@x.mssante.fr", CorrespondentRole.MEDECIN_TRAITANT),
        ("SANSBAL", "", CorrespondentRole.SPECIALISTE),  # no mailbox: not proposed
    ]
    for name, address, role in team:
        correspondent = Correspondent.objects.create(family_name=name, mss_address=address)
        PatientCorrespondent.objects.create(patient=qual_patient, correspondent=correspondent, role=role)
    found = proposed_recipients(qual_patient, doctor)
    assert [(r.display_name, r.role_label) for r in found[:-1]] == [
        ("DURAND", "Médecin traitant"),
        ("LEROY", "Spécialiste"),
        ("SOIN", "Infirmier"),
        ("PHARMA", "Pharmacien"),
        ("AUTRE", "Autre"),
    ]
    assert found[-1].is_patient and found[-1].address.endswith(PATIENT_BOX_SUFFIX)


def test_a_colleague_picked_from_the_directory_is_offered_on_the_next_send(
    client: Client, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any, letter: Any
) -> None:
    DirectoryEntry.objects.create(
        address="anne.leroy@demo.mssante.fr",
        kind="PER",
        family_name="LEROY",
        given_name="Anne",
        profession="Médecin",
        specialty="Cardiologie",
        city="LYON",
        search_name="LEROY ANNE",
        search_city="LYON",
    )
    client.force_login(doctor)
    response = client.post(
        "/messagerie/envoyer/",
        {
            "patient": qual_patient.pk,
            "document": letter.pk,
            "destinataire": ["anne.leroy@demo.mssante.fr"],
            "corps": "Chère consœur,",
            "envoyer": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()
    link = PatientCorrespondent.objects.get(patient=qual_patient)
    assert link.role == CorrespondentRole.SPECIALISTE  # the role her specialty suggests, not « autre »
    page = client.get(f"/messagerie/envoyer/?patient={qual_patient.pk}&document={letter.pk}").content.decode()
    assert 'value="anne.leroy@demo.mssante.fr"' in page and "Spécialiste : " in page
    # Sent to again: still one link, her role kept.
    client.post(
        "/messagerie/envoyer/",
        {"patient": qual_patient.pk, "destinataire": ["anne.leroy@demo.mssante.fr"], "corps": "Suite", "envoyer": "1"},
    )
    assert PatientCorrespondent.objects.filter(patient=qual_patient).count() == 1


def test_the_author_as_medecin_traitant_is_not_proposed_to_himself(
    doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    qual_patient.medecin_traitant = doctor
    qual_patient.save(update_fields=["medecin_traitant"])
    pharmacist = Correspondent.objects.create(organisation="PHARMACIE", mss_address="ph@x.mssante.fr")
    PatientCorrespondent.objects.create(
        patient=qual_patient, correspondent=pharmacist, role=CorrespondentRole.PHARMACIEN
    )
    assert [r.role for r in proposed_recipients(qual_patient, doctor)] == ["pharmacien", "patient"]
