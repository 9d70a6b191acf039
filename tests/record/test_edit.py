"""Edit screens of the record: the add form pre-filled, the update service on POST (history row + audit
event), errors shown with nothing changed, 403 for the secretary, 404 outside the patient."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client

from caducee.core.models import AuditEvent
from caducee.record import services
from caducee.record.models import LongTermTreatment, Problem, RecordHistory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.record.edit_urls")]


def _url(patient, kind: str, entry) -> str:  # type: ignore[no-untyped-def]
    return f"/dossier/{patient.pk}/{kind}/{entry.pk}/modifier/"


@pytest.fixture
def problem(doctor, patient, concepts) -> Problem:  # type: ignore[no-untyped-def]
    return services.problem_create(actor=doctor, patient=patient, cim10_code="E11", onset=dt.date(2015, 3, 1))


def _no_inline_script_or_style(page: str) -> None:
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))
    assert " style=" not in page and "<style" not in page and " onclick=" not in page


def test_get_shows_the_entry_pre_filled(client: Client, doctor, patient, problem) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    response = client.get(_url(patient, "probleme", problem))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="identity-status"' in page  # the identity banner
    assert "Modifier une pathologie" in page
    assert 'value="Diabète sucré de type 2"' in page and 'value="E11"' in page and 'value="2015-03-01"' in page
    assert '<option value="active" selected>' in page
    assert 'data-terminology="cim10"' in page and "record.js" in page and "data-terminology-url=" in page
    _no_inline_script_or_style(page)


def test_post_updates_through_the_service(client: Client, doctor, patient, problem) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    response = client.post(
        _url(patient, "probleme", problem),
        {"label": "", "cim10_code": "i10", "status": "active", "onset": "2016-05-02"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/#dossier-probleme"
    problem.refresh_from_db()
    assert (problem.cim10_code, problem.label, problem.onset) == (
        "I10",
        "Hypertension essentielle (primitive)",
        dt.date(2016, 5, 2),
    )
    change = RecordHistory.objects.get(entry_type="problem", entry_id=problem.pk, action="update")
    assert change.by == doctor and change.data["cim10_code"] == "I10"
    event = AuditEvent.objects.get(action="record.problem.update")
    assert event.patient_id == patient.pk and event.object_id == str(problem.pk) and event.actor == doctor


def test_treatment_route_label_is_shown_and_dropped(client: Client, doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    treatment = services.treatment_create(
        actor=doctor, patient=patient, cis_code="69065160", dose_quantity=Decimal("1000"), dose_unit="mg",
        route_code="20053000", frequency="matin et soir",
    )  # fmt: skip
    client.force_login(doctor)
    url = _url(patient, "traitement", treatment)
    page = client.get(url).content.decode()
    assert 'name="route_label" value="Voie orale"' in page and 'name="dose_quantity" value="1000"' in page
    response = client.post(
        url,
        {
            "drug_label": treatment.drug_label, "cis_code": "69065160", "dose_quantity": "500", "dose_unit": "mg",
            "route_label": "Voie orale", "route_code": "20053000", "frequency": "matin",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()
    treatment = LongTermTreatment.objects.get()
    assert treatment.dose_quantity == Decimal("500") and treatment.frequency == "matin"
    assert RecordHistory.objects.filter(entry_type="treatment", action="update").count() == 1


def test_errors_are_shown_and_nothing_changes(client: Client, doctor, patient, problem) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    url = _url(patient, "probleme", problem)
    before = RecordHistory.objects.count()
    response = client.post(url, {"label": "", "cim10_code": "", "status": "active"})  # form rule
    assert response.status_code == 400
    assert "Saisissez un libellé ou un code CIM-10." in response.content.decode()
    response = client.post(url, {"label": "", "cim10_code": "Z99.99", "status": "active"})  # service rule
    page = response.content.decode()
    assert response.status_code == 400 and "Code Z99.99 inconnu de la terminologie CIM10." in page
    assert 'value="Z99.99"' in page  # what was typed is kept
    assert RecordHistory.objects.count() == before
    problem.refresh_from_db()
    assert problem.cim10_code == "E11"


def test_secretary_gets_403_and_nothing_changes(client: Client, secretary, patient, problem) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    url = _url(patient, "probleme", problem)
    before = (RecordHistory.objects.count(), AuditEvent.objects.filter(action__startswith="record.").count())
    assert client.get(url).status_code == 403
    response = client.post(url, {"label": "HTA", "cim10_code": "", "status": "active"})
    assert response.status_code == 403 and "Diabète" not in response.content.decode()
    assert (RecordHistory.objects.count(), AuditEvent.objects.filter(action__startswith="record.").count()) == before
    problem.refresh_from_db()
    assert problem.cim10_code == "E11"


def test_only_live_entries_of_this_patient(client: Client, doctor, make_patient, patient, problem) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    other = make_patient(birth_name="AUTRE", first_given_name="PAUL")
    assert client.get(_url(other, "probleme", problem)).status_code == 404  # not a cross-patient write
    assert client.post(_url(other, "probleme", problem), {"label": "X", "status": "active"}).status_code == 404
    assert client.get(f"/dossier/{patient.pk}/inconnu/{problem.pk}/modifier/").status_code == 404
    vital = services.vital_record(actor=doctor, patient=patient, weight_kg=Decimal("80"))[0]
    assert client.get(_url(patient, "constantes", vital)).status_code == 404  # measurements are not edited
    services.problem_delete(actor=doctor, problem=problem)
    assert client.get(_url(patient, "probleme", problem)).status_code == 404


def test_ald_and_allergy_edit(client: Client, doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    ald = services.ald_create(
        actor=doctor, patient=patient, label="Diabète", cim10_codes="E11", start=dt.date(2020, 1, 1)
    )
    allergy = services.allergy_create(actor=doctor, patient=patient, agent_kind="substance", agent_label="Latex")
    client.force_login(doctor)
    response = client.post(
        _url(patient, "ald", ald), {"label": "Diabète de type 2", "cim10_codes": "e11, i10", "start": "2020-01-01"}
    )
    assert response.status_code == 302
    ald.refresh_from_db()
    assert ald.cim10_codes == "E11 I10"
    response = client.post(
        _url(patient, "allergie", allergy),
        {"agent_kind": "substance", "agent_label": "Latex", "reaction": "Urticaire", "severity": ""},
    )
    assert response.status_code == 302
    allergy.refresh_from_db()
    assert allergy.reaction == "Urticaire"
    assert set(RecordHistory.objects.filter(action="update").values_list("entry_type", flat=True)) == {
        "ald",
        "allergy",
    }
