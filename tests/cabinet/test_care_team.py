"""Issue 13 §1 « Correspondants et équipe de soins »: the chart shows the patient's care team (médecin traitant,
specialists, pharmacist, nurse…) with their MSSanté addresses, and a correspondent is added from the Annuaire Santé
in two clicks from the chart (Chercher, Ajouter), with the role his profession suggests.

Failed before: the chart listed no correspondents and had no way to add one (`/patients/<id>/equipe/annuaire/` was
a 404)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from caducee.core.models import AuditEvent
from caducee.mss.models import DirectoryEntry, Mailbox, MailboxKind
from caducee.patients.correspondents import correspondent_create, correspondent_link
from caducee.patients.models import CorrespondentRole, PatientCorrespondent
from caducee.patients.selectors import patient_correspondents

pytestmark = pytest.mark.django_db


def _entry(address: str, family: str, given: str, profession: str, specialty: str, city: str) -> DirectoryEntry:
    from caducee.mss.annuaire.records import DirectoryRecord

    record = DirectoryRecord(
        address=address,
        kind="PER",
        national_id="810001234567",
        civility="DR" if profession == "Médecin" else "",
        family_name=family,
        given_name=given,
        profession_code="",
        profession=profession,
        specialty_code="",
        specialty=specialty,
        organisation="",
        address_line="1 rue de la République",
        postal_code="69002",
        city=city,
    )
    return DirectoryEntry.objects.create(**record.model_values())


def test_the_chart_shows_the_care_team_with_their_mailboxes(
    client: Client, secretary: Any, doctor: Any, make_patient: Any
) -> None:
    patient = make_patient()
    patient.medecin_traitant = doctor
    patient.save(update_fields=["medecin_traitant"])
    Mailbox.objects.create(address="medecin@cabinet.mssante.fr", kind=MailboxKind.PER, owner=doctor)
    pharmacist = correspondent_create(
        actor=secretary, organisation="PHARMACIE DU CENTRE", profession="Pharmacien", mss_address="ph@x.mssante.fr"
    )
    nurse = correspondent_create(actor=secretary, family_name="SOIN", profession="Infirmier", phone="04 78 11 22 33")
    correspondent_link(actor=secretary, patient=patient, correspondent=pharmacist, role=CorrespondentRole.PHARMACIEN)
    correspondent_link(actor=secretary, patient=patient, correspondent=nurse, role=CorrespondentRole.INFIRMIER)
    client.force_login(secretary)  # the secretary keeps the address book: she sees the care team
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    team = page[page.index('data-testid="care-team"') :]
    team = team[: team.index("</table>")]
    assert team.index("Médecin traitant") < team.index("Infirmier") < team.index("Pharmacien")
    assert "medecin@cabinet.mssante.fr" in team and "ph@x.mssante.fr" in team and "04 78 11 22 33" in team


def test_a_correspondent_joins_the_care_team_from_the_directory_in_two_clicks(
    client: Client, secretary: Any, make_patient: Any
) -> None:
    patient = make_patient()
    cardio = _entry("anne.leroy@demo.mssante.fr", "LEROY", "Anne", "Médecin", "Cardiologie", "LYON")
    _entry("paul.leroux@demo.mssante.fr", "LEROUX", "Paul", "Pharmacien", "", "LYON")
    client.force_login(secretary)
    chart = client.get(f"/patients/{patient.pk}/").content.decode()
    assert f'action="/patients/{patient.pk}/equipe/annuaire/"' in chart and 'name="q"' in chart
    # Click 1: « Chercher » with "ler lyon" typed in the chart's field.
    page = client.get(f"/patients/{patient.pk}/equipe/annuaire/", {"q": "ler lyon"}).content.decode()
    assert "LEROY" in page and "LEROUX" in page and "2 résultats" in page
    # Each row has its role pre-selected from the profession: a cardiologist is a specialist, LEROUX a pharmacist.
    assert f'id="role-{cardio.pk}"' in page
    row = page[page.index(f'id="role-{cardio.pk}"') :]
    assert '<option value="specialiste" selected>' in row[: row.index("</select>")]
    # Click 2: « Ajouter ».
    response = client.post(
        f"/patients/{patient.pk}/equipe/annuaire/", {"entree": cardio.pk, "role": "specialiste", "q": "ler lyon"}
    )
    assert response.status_code == 302 and response.url == f"/patients/{patient.pk}/#h-equipe"
    (link,) = patient_correspondents(patient)
    assert (link.role, link.correspondent.mss_address, link.correspondent.source) == (
        "specialiste",
        "anne.leroy@demo.mssante.fr",
        "annuaire",
    )
    assert AuditEvent.objects.filter(action="correspondent.link", patient_id=patient.pk).count() == 1
    chart = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "anne.leroy@demo.mssante.fr" in chart and "Cardiologie" in chart
    # « Retirer »: the link goes, the correspondent stays in the address book.
    response = client.post(f"/patients/{patient.pk}/equipe/{link.pk}/retirer/")
    assert response.status_code == 302 and not PatientCorrespondent.objects.exists()
    assert client.post(f"/patients/{patient.pk}/equipe/{link.pk}/retirer/").status_code == 404


def test_the_search_says_when_nothing_is_found_and_odd_input_is_no_server_error(
    client: Client, secretary: Any, make_patient: Any
) -> None:
    patient = make_patient()
    client.force_login(secretary)
    url = f"/patients/{patient.pk}/equipe/annuaire/"
    assert "Aucun professionnel trouvé pour « zzz »" in client.get(url, {"q": "zzz"}).content.decode()
    assert "au moins deux lettres" in client.get(url, {"q": "z"}).content.decode()
    for entry in ("", "x", "٣", "9" * 25, "12345"):
        assert client.post(url, {"entree": entry, "role": "autre"}).status_code == 404
    entry = _entry("a@x.mssante.fr", "ADAM", "Luc", "Médecin", "", "LYON")
    assert client.post(url, {"entree": entry.pk, "role": "cousin"}).status_code == 404
    assert client.get(url.replace(str(patient.pk), "999999")).status_code == 404


def test_the_administrator_adds_no_correspondent(client: Client, administrator: Any, make_patient: Any) -> None:
    patient = make_patient()
    entry = _entry("a@x.mssante.fr", "ADAM", "Luc", "Médecin", "", "LYON")
    client.force_login(administrator)
    url = f"/patients/{patient.pk}/equipe/annuaire/"
    assert client.get(url, {"q": "ada"}).status_code == 403
    assert client.post(url, {"entree": entry.pk, "role": "autre"}).status_code == 403
    assert not PatientCorrespondent.objects.exists()
