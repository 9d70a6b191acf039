"""Issue 13 §1 « Médecin traitant »: who it is (a doctor of the practice, an outside correspondent, or a name),
since when, whether the déclaration de choix was made and when; the correspondents' « médecin traitant » link and
the card agree; every change audited (field names) and in the card's history.

Each test failed before: the card held only a practice doctor or a typed name, no start date, no declaration
(`patient_set_medecin_traitant` and `/patients/<id>/medecin-traitant/` did not exist)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from caducee.accounts.models import Role, User
from caducee.core.models import AuditEvent
from caducee.patients.correspondents import correspondent_create, correspondent_link, correspondent_unlink
from caducee.patients.errors import PatientConflict, PatientDataError
from caducee.patients.models import ContactChange, CorrespondentRole, Patient, PatientCorrespondent
from caducee.patients.selectors import patient_correspondent
from caducee.patients.services import patient_set_medecin_traitant

pytestmark = pytest.mark.django_db


def _mt_links(patient: Patient) -> list[str]:
    return [
        link.correspondent.family_name
        for link in PatientCorrespondent.objects.filter(patient=patient, role=CorrespondentRole.MEDECIN_TRAITANT)
    ]


def test_a_practice_doctor_since_a_date_and_declared(secretary: Any, doctor: Any, make_patient: Any) -> None:
    patient = make_patient()
    patient_set_medecin_traitant(
        actor=secretary,
        patient=patient,
        version=patient.version,
        doctor=doctor,
        since=dt.date(2019, 5, 1),
        declared=True,
        declared_on=dt.date(2019, 6, 12),
    )
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.medecin_traitant, stored.medecin_traitant_since) == (doctor, dt.date(2019, 5, 1))
    assert (stored.medecin_traitant_declared, stored.medecin_traitant_declared_on) == (True, dt.date(2019, 6, 12))
    assert stored.version == patient.version == 2
    event = AuditEvent.objects.get(action="patient.medecin_traitant.update")
    assert event.patient_id == patient.pk
    assert set(event.detail["fields"].split(",")) == {
        "medecin_traitant",
        "medecin_traitant_since",
        "medecin_traitant_declared",
        "medecin_traitant_declared_on",
    }
    change = ContactChange.objects.get(patient=patient)
    assert change.kind == "medecin_traitant" and change.previous["medecin_traitant_declared"] == "non"


def test_an_outside_correspondent_and_the_link_follow_each_other(
    secretary: Any, doctor: Any, make_patient: Any
) -> None:
    patient = make_patient()
    leroy = correspondent_create(actor=secretary, civility="Dr", family_name="LEROY", given_name="Anne")
    durand = correspondent_create(actor=secretary, civility="Dr", family_name="DURAND")
    # The card → the link.
    patient_set_medecin_traitant(
        actor=secretary,
        patient=patient,
        version=patient.version,
        correspondent=leroy,
        declared=True,
        declared_on=dt.date(2024, 1, 8),
    )
    assert _mt_links(patient) == ["LEROY"]
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.medecin_traitant_correspondent == leroy and stored.medecin_traitant_name == "Dr LEROY Anne"
    assert stored.medecin_traitant_externe == "Dr LEROY Anne"  # the name the letters and documents read
    # The link → the card (the « médecin traitant » role chosen in the care team): the declaration was LEROY's.
    correspondent_link(actor=secretary, patient=stored, correspondent=durand, role=CorrespondentRole.MEDECIN_TRAITANT)
    stored = Patient.objects.get(pk=patient.pk)
    assert _mt_links(patient) == ["DURAND"] and stored.medecin_traitant_correspondent == durand
    assert (stored.medecin_traitant_declared, stored.medecin_traitant_declared_on) == (False, None)
    assert patient_correspondent(stored, CorrespondentRole.MEDECIN_TRAITANT) == durand
    # Removing the link: no médecin traitant on the card either.
    correspondent_unlink(actor=secretary, patient=stored, correspondent=durand)
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.medecin_traitant_correspondent is None and stored.medecin_traitant_name == ""
    # A practice doctor replaces an outside one: the link goes.
    patient_set_medecin_traitant(actor=secretary, patient=stored, version=stored.version, correspondent=leroy)
    patient_set_medecin_traitant(actor=secretary, patient=stored, version=stored.version, doctor=doctor)
    assert _mt_links(patient) == []
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.medecin_traitant, stored.medecin_traitant_correspondent, stored.medecin_traitant_externe) == (
        doctor,
        None,
        "",
    )
    history = list(ContactChange.objects.filter(patient=patient, kind="medecin_traitant"))
    assert len(history) == 5


def test_refused_choices(secretary: Any, doctor: Any, make_patient: Any) -> None:
    patient = make_patient()
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    nurse = User.objects.create_user(username="inf", role=Role.PARAMEDICAL, last_name="SOIN")
    leroy = correspondent_create(actor=secretary, family_name="LEROY")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"doctor": doctor, "correspondent": leroy}, "choice"),
        ({"doctor": nurse}, "doctor"),
        ({"doctor": doctor, "since": tomorrow}, "since"),
        ({"doctor": doctor, "declared": True}, "declared_on"),
        ({"doctor": doctor, "declared": True, "declared_on": tomorrow}, "declared_on"),
        ({"declared": True, "declared_on": dt.date(2020, 1, 1)}, "declared"),
        ({"external": "X" * 201}, "external"),
    ]
    for kwargs, field in cases:
        with pytest.raises(PatientDataError) as refused:
            patient_set_medecin_traitant(actor=secretary, patient=patient, version=patient.version, **kwargs)
        assert field in refused.value.errors, kwargs
    assert Patient.objects.get(pk=patient.pk).version == 1 and not ContactChange.objects.exists()
    patient_set_medecin_traitant(actor=secretary, patient=patient, version=1, external="Dr Jean DUPONT, Bron")
    with pytest.raises(PatientConflict):
        patient_set_medecin_traitant(actor=secretary, patient=patient, version=1, doctor=doctor)


def test_the_form_keeps_what_was_typed_and_the_chart_says_it(
    client: Client, secretary: Any, doctor: Any, make_patient: Any
) -> None:
    patient = make_patient()
    leroy = correspondent_create(
        actor=secretary, civility="Dr", family_name="LEROY", mss_address="a.leroy@x.mssante.fr"
    )
    correspondent_link(actor=secretary, patient=patient, correspondent=leroy, role=CorrespondentRole.SPECIALISTE)
    client.force_login(secretary)
    url = f"/patients/{patient.pk}/medecin-traitant/"
    page = client.get(url).content.decode()
    assert f'value="u{doctor.pk}"' in page and f'value="c{leroy.pk}"' in page  # the practice's doctors, the team
    typed = {"version": "1", "choice": f"u{doctor.pk}", "since": "2019-05-01", "declared": "1", "declared_on": ""}
    response = client.post(url, typed)
    page = response.content.decode()
    assert response.status_code == 400 and "Indiquez la date de la déclaration." in page
    assert f'value="u{doctor.pk}" checked' in page and 'value="2019-05-01"' in page
    response = client.post(url, {**typed, "declared_on": "12/06/2019"})  # typed the French way, too
    assert response.status_code == 302
    chart = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "depuis le 01/05/2019" in chart and "déclaration faite le 12/06/2019" in chart
    stale = client.post(url, {"version": "1", "choice": f"c{leroy.pk}"})
    assert stale.status_code == 409 and f'value="c{leroy.pk}" checked' in stale.content.decode()
    assert client.post(url, {"version": "2", "choice": "c999999"}).status_code == 400
    assert client.post(url, {"version": "2", "choice": "", "since": "31/02/2020"}).status_code == 400


def test_a_precise_role_replaces_autre(secretary: Any, make_patient: Any) -> None:
    """A colleague first written to (« autre »), then chosen as médecin traitant: one row in the care team."""
    patient = make_patient()
    leroy = correspondent_create(actor=secretary, family_name="LEROY")
    correspondent_link(actor=secretary, patient=patient, correspondent=leroy)
    patient_set_medecin_traitant(actor=secretary, patient=patient, version=patient.version, correspondent=leroy)
    assert list(PatientCorrespondent.objects.filter(patient=patient).values_list("role", flat=True)) == [
        "medecin_traitant"
    ]
    unlink = AuditEvent.objects.get(action="correspondent.unlink")
    assert unlink.detail == {"role": "autre", "raison": "précisé : Médecin traitant"}
