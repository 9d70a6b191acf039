"""Issue 13 §1 « Coordonnées »: contact data (address, phones, e-mail, usual contact preferences) can be changed
after creation, by the secretary as by a clinician; each change is audited with the names of the fields (never
their values) and kept in a history the chart shows; a refused value comes back as typed with a French message and
the database's length (`maxlength`); a save by someone else since the form was shown loses nothing.

Each test failed before: there was no form, no service and no history (`/patients/<id>/coordonnees/` was a 404)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from caducee.core.models import AuditEvent
from caducee.patients.errors import PatientConflict, PatientDataError
from caducee.patients.models import ContactChange, Patient
from caducee.patients.selectors import contact_history
from caducee.patients.services import patient_update_contact

pytestmark = pytest.mark.django_db

NEW = {
    "address_line": "12 bis rue des Tilleuls",
    "postal_code": "69003",
    "city": "LYON",
    "phone": "04 78 00 00 00",
    "mobile_phone": "06 12 34 56 78",
    "email": "dominique@example.fr",
    "contact_preference": "sms",
    "contact_note": "Appeler après 18 h",
}


def _url(patient: Patient) -> str:
    return f"/patients/{patient.pk}/coordonnees/"


def test_the_secretary_changes_the_contact_data_audited_with_history(
    client: Client, secretary: Any, make_patient: Any
) -> None:
    patient = make_patient()
    Patient.objects.filter(pk=patient.pk).update(city="VILLEURBANNE", phone="04 72 11 11 11")
    client.force_login(secretary)
    chart = client.get(f"/patients/{patient.pk}/").content.decode()
    assert f'href="{_url(patient)}"' in chart  # « Modifier les coordonnées » on the card

    form = client.get(_url(patient)).content.decode()
    assert 'name="version" value="1"' in form and 'value="VILLEURBANNE"' in form
    response = client.post(_url(patient), {**NEW, "version": "1"})
    assert response.status_code == 302 and response.url == f"/patients/{patient.pk}/"

    patient.refresh_from_db()
    assert {name: getattr(patient, name) for name in NEW} == NEW
    assert patient.version == 2
    event = AuditEvent.objects.get(action="patient.contact.update")
    assert event.patient_id == patient.pk and event.actor == secretary
    fields = event.detail["fields"].split(",")
    assert set(fields) == set(NEW)  # every field changed (the address was empty)
    assert "LYON" not in str(event.detail) and "VILLEURBANNE" not in str(event.detail)  # names, not values

    (change,) = ContactChange.objects.filter(patient=patient)
    assert change.by == secretary and change.previous["city"] == "VILLEURBANNE"
    assert change.previous["phone"] == "04 72 11 11 11"
    chart = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Historique des coordonnées (1)" in chart and "VILLEURBANNE" in chart and "06 12 34 56 78" in chart
    assert "SMS" in chart and "Appeler après 18 h" in chart


def test_nothing_changed_writes_nothing(secretary: Any, make_patient: Any) -> None:
    patient = make_patient()
    patient_update_contact(actor=secretary, patient=patient, contact={"city": ""}, version=patient.version)
    assert patient.version == 1 and not ContactChange.objects.exists()
    assert not AuditEvent.objects.filter(action="patient.contact.update").exists()


def test_refused_values_come_back_as_typed_with_the_database_lengths(
    client: Client, secretary: Any, make_patient: Any
) -> None:
    """Issue 13 §4 on this form: a city of 101 characters is refused (not cut), the page keeps all that was typed,
    each input carries the column's maxlength; a NUL byte never reaches the database."""
    patient = make_patient()
    client.force_login(secretary)
    typed = {
        **NEW,
        "city": "V" * 101,
        "address_line": "3 rue\x00 du Puits",
        "postal_code": "6900",
        "phone": "٠٤ ٧٨",
        "email": "pas-un-courriel",
        "version": "1",
    }
    response = client.post(_url(patient), typed)
    page = response.content.decode()
    assert response.status_code == 400
    assert "100 caractères au maximum (vous en avez saisi 101)" in page
    assert "Code postal : 5 chiffres" in page and "Adresse de courriel invalide" in page and "Numéro invalide" in page
    assert 'value="' + "V" * 101 + '"' in page and 'value="pas-un-courriel"' in page
    for name, length in {"address_line": 200, "postal_code": 5, "city": 100, "phone": 20, "email": 254}.items():
        assert re.search(rf'name="{name}" value="[^"]*" maxlength="{length}"', page), name
    assert "\x00" not in page
    patient.refresh_from_db()
    assert (patient.city, patient.version) == ("", 1)  # nothing saved

    # The service itself removes a control character (invisible: refusing it would ask to find it).
    patient_update_contact(actor=secretary, patient=patient, contact={"address_line": "3 rue\x00 du Puits"}, version=1)
    assert Patient.objects.get(pk=patient.pk).address_line == "3 rue du Puits"


def test_the_preferred_way_needs_its_number(secretary: Any, make_patient: Any) -> None:
    patient = make_patient()
    with pytest.raises(PatientDataError) as refused:
        patient_update_contact(
            actor=secretary, patient=patient, contact={"contact_preference": "sms"}, version=patient.version
        )
    assert refused.value.errors == {"contact_preference": "Indiquez un téléphone portable pour les SMS."}
    with pytest.raises(PatientDataError):
        patient_update_contact(
            actor=secretary, patient=patient, contact={"contact_preference": "pigeon"}, version=patient.version
        )


def test_a_save_by_someone_else_meanwhile_loses_nothing(
    client: Client, secretary: Any, doctor: Any, make_patient: Any
) -> None:
    """Two people on the same card: the second save is told, its typing kept, the first's values shown; nothing
    is overwritten (UPDATE … WHERE version = seen, as for the identity)."""
    patient = make_patient()
    patient_update_contact(actor=doctor, patient=patient, contact={"city": "BRON"}, version=1)
    client.force_login(secretary)
    response = client.post(_url(patient), {**NEW, "city": "LYON", "version": "1"})
    page = response.content.decode()
    assert response.status_code == 409
    assert "modifiées par quelqu&#x27;un d&#x27;autre" in page
    assert 'value="LYON"' in page and "Enregistré entre-temps : BRON" in page
    assert 'name="version" value="2"' in page  # saving again now overwrites knowingly
    assert Patient.objects.get(pk=patient.pk).city == "BRON"
    with pytest.raises(PatientConflict):
        patient_update_contact(actor=secretary, patient=patient, contact={"city": "LYON"}, version=1)
    assert client.post(_url(patient), {**NEW, "version": "2"}).status_code == 302
    assert Patient.objects.get(pk=patient.pk).city == "LYON"


@pytest.mark.parametrize("version", ["", "x", "٣", "99999999999999999999999"])
def test_an_odd_version_is_not_a_server_error(client: Client, secretary: Any, make_patient: Any, version: str) -> None:
    patient = make_patient()
    client.force_login(secretary)
    assert client.post(_url(patient), {**NEW, "version": version}).status_code == 404


def test_the_administrator_opens_no_card(client: Client, administrator: Any, make_patient: Any) -> None:
    """The practice administrator has no PATIENT_ADMIN: no patient data for him, read or write."""
    patient = make_patient()
    client.force_login(administrator)
    assert client.get(_url(patient)).status_code == 403
    assert client.post(_url(patient), {**NEW, "version": "1"}).status_code == 403
    with pytest.raises(PermissionDenied):
        patient_update_contact(actor=administrator, patient=patient, contact=NEW, version=1)


def test_the_history_is_bounded_and_newest_first(secretary: Any, make_patient: Any) -> None:
    patient = make_patient()
    for i in range(25):
        patient_update_contact(
            actor=secretary, patient=patient, contact={"city": f"VILLE {i}"}, version=patient.version
        )
    rows = contact_history(patient)
    assert len(rows) == 20
    assert rows[0].changes == [("ville", "VILLE 23")] and rows[0].by == secretary.display_name()


def test_the_creation_form_keeps_the_traits_when_a_contact_field_is_refused(
    client: Client, secretary: Any, practice: Any
) -> None:
    client.force_login(secretary)
    data = {
        "birth_name": "NOUVEAU",
        "first_given_name": "JEAN",
        "birth_date": "01/02/1990",
        "sex": "M",
        "birthplace_cog": "69123",
        "city": "L" * 101,
        "mobile_phone": "06 12 34 56 78",
    }
    response = client.post("/patients/nouveau/saisie/", data)
    page = response.content.decode()
    assert response.status_code == 400 and 'value="NOUVEAU"' in page and "100 caractères au maximum" in page
    assert not Patient.objects.exists()
    data["city"] = "LYON"
    assert client.post("/patients/nouveau/saisie/", data).status_code == 302
    assert Patient.objects.get().mobile_phone == "06 12 34 56 78"
