"""Record screens: a doctor reads and writes, a paramedical reads, the secretary sees no clinical content."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

from caducee.accounts.models import Role, User
from caducee.record import services
from caducee.record.models import Allergy, AllergyStatement, Problem, RecordHistory, Vital
from caducee.record.views import record_context

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.record.urls")]


@pytest.fixture
def rich(doctor, patient, concepts):  # type: ignore[no-untyped-def]
    services.problem_create(actor=doctor, patient=patient, cim10_code="E11")
    services.allergy_create(
        actor=doctor, patient=patient, agent_kind="drug", agent_label="Pénicilline G", reaction="Œdème"
    )
    services.treatment_create(
        actor=doctor, patient=patient, cis_code="69065160", dose_quantity=Decimal("1000"), dose_unit="mg",
        route_code="20053000", frequency="matin et soir",
    )  # fmt: skip
    services.vigilance_point_create(actor=doctor, patient=patient, text="Risque hypoglycémique")
    services.vital_record(actor=doctor, patient=patient, weight_kg=Decimal("82.5"), height_cm=Decimal(175))
    return patient


CLINICAL_WORDS = ("Diabète sucré", "Pénicilline", "METFORMINE", "hypoglycémique", "Dossier médical", "IMC")


def _no_inline_script_or_style(page: str) -> None:
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))
    assert " style=" not in page and "<style" not in page and " onclick=" not in page


def test_doctor_sees_every_category_with_the_banner(client: Client, doctor, rich) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    response = client.get(f"/dossier/{rich.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="identity-status"' in page  # the identity banner on every patient screen
    for word in CLINICAL_WORDS:
        assert word in page
    assert "1000 mg" in page and "voie orale" in page and "26,9 kg/m²" in page
    assert 'data-terminology="cim10"' in page and "record.js" in page
    _no_inline_script_or_style(page)


def test_secretary_sees_no_clinical_content(client: Client, secretary, rich) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    for url in (f"/dossier/{rich.pk}/", f"/dossier/{rich.pk}/historique/", "/dossier/terminologie/?q=diab"):
        response = client.get(url)
        assert response.status_code == 403
        assert not any(word in response.content.decode() for word in CLINICAL_WORDS[:4])
    # The chart section renders to nothing at all for her.
    request = RequestFactory().get(f"/patients/{rich.pk}/")
    request.user = secretary
    html = render_to_string("record/_summary.html", {**record_context(secretary, rich), "patient": rich}, request)
    assert html.strip() == ""
    assert record_context(secretary, rich)["record"] is None


def test_secretary_cannot_write_through_the_screens(client: Client, secretary, rich) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    before = RecordHistory.objects.count()
    assert client.post(f"/dossier/{rich.pk}/probleme/ajouter/", {"label": "HTA"}).status_code == 403
    problem = Problem.objects.get()
    assert client.post(f"/dossier/{rich.pk}/probleme/{problem.pk}/supprimer/").status_code == 403
    assert client.post(f"/dossier/{rich.pk}/allergies/declaration/", {"none_known": "1"}).status_code == 403
    assert RecordHistory.objects.count() == before and Problem.objects.get().deleted_at is None


def test_paramedical_reads_without_forms(client: Client, rich) -> None:  # type: ignore[no-untyped-def]
    nurse = User.objects.create_user(username="infirmiere", password="x" * 20, role=Role.PARAMEDICAL)
    client.force_login(nurse)
    page = client.get(f"/dossier/{rich.pk}/").content.decode()
    assert "Pénicilline" in page and "Ajouter une pathologie" not in page and "Supprimer" not in page
    assert client.post(f"/dossier/{rich.pk}/probleme/ajouter/", {"label": "HTA"}).status_code == 403


def test_add_from_the_chart_comes_back_to_the_chart(client: Client, doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    chart = f"/patients/{patient.pk}/"
    response = client.post(
        f"/dossier/{patient.pk}/probleme/ajouter/",
        {"label": "", "cim10_code": "i10", "status": "active", "next": chart},
    )
    assert response.status_code == 302 and response["Location"] == f"{chart}#dossier-probleme"
    problem = Problem.objects.get()
    assert (problem.cim10_code, problem.label, problem.created_by) == (
        "I10",
        "Hypertension essentielle (primitive)",
        doctor,
    )
    # An outside "next" is ignored (no open redirect).
    response = client.post(
        f"/dossier/{patient.pk}/vigilance/ajouter/", {"text": "Chutes", "next": "https://evil.example/"}
    )
    assert response["Location"] == f"/dossier/{patient.pk}/#dossier-vigilance"


def test_bad_input_is_explained_and_nothing_is_saved(client: Client, doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    response = client.post(f"/dossier/{patient.pk}/constantes/ajouter/", {"weight_kg": "82,5", "height_cm": "1,75"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "hors des valeurs plausibles" in page and "rien n'a été enregistré" in page
    assert 'value="82,5"' in page  # what was typed is kept
    assert not Vital.objects.exists()
    response = client.post(f"/dossier/{patient.pk}/probleme/ajouter/", {"cim10_code": "X00.00", "status": "active"})
    assert response.status_code == 400 and "inconnu" in response.content.decode()
    response = client.post(f"/dossier/{patient.pk}/probleme/ajouter/", {"status": "active"})
    assert "Saisissez un libellé ou un code CIM-10" in response.content.decode()
    assert not Problem.objects.exists()


def test_vitals_with_french_decimals_and_bmi(client: Client, doctor, patient) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    client.post(f"/dossier/{patient.pk}/constantes/ajouter/", {"weight_kg": "82,5", "height_cm": "175"})
    assert Vital.objects.get(kind=Vital.Kind.BMI).value == Decimal("26.9")


def test_delete_only_within_the_patient(client: Client, doctor, make_patient, rich) -> None:  # type: ignore[no-untyped-def]
    other = make_patient(birth_name="AUTRE", first_given_name="JEAN")
    problem = Problem.objects.get(patient=rich)
    client.force_login(doctor)
    assert client.post(f"/dossier/{other.pk}/probleme/{problem.pk}/supprimer/").status_code == 404
    assert client.get(f"/dossier/{rich.pk}/probleme/{problem.pk}/supprimer/").status_code == 405
    assert client.post(f"/dossier/{rich.pk}/probleme/{problem.pk}/supprimer/").status_code == 302
    problem.refresh_from_db()
    assert problem.deleted_at is not None
    page = client.get(f"/dossier/{rich.pk}/historique/").content.decode()
    assert "suppression" in page and "Pathologie : Diabète sucré de type 2" in page


def test_allergy_statement_from_the_screen(client: Client, doctor, patient) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    page = client.get(f"/dossier/{patient.pk}/").content.decode()
    assert "Non renseigné" in page
    client.post(f"/dossier/{patient.pk}/allergies/declaration/", {"none_known": "1"})
    assert AllergyStatement.objects.get().none_known
    assert "Aucune allergie connue" in client.get(f"/dossier/{patient.pk}/").content.decode()
    client.post(f"/dossier/{patient.pk}/allergie/ajouter/", {"agent_kind": "substance", "agent_label": "Latex"})
    assert Allergy.objects.count() == 1 and not AllergyStatement.objects.get().none_known
    response = client.post(f"/dossier/{patient.pk}/allergies/declaration/", {"none_known": "1"}, follow=True)
    assert "supprimez-les" in response.content.decode()


def test_resolve_and_stop(client: Client, doctor, rich) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    problem = Problem.objects.get()
    treatment = rich and services.treatment_create(actor=doctor, patient=rich, drug_label="Ramipril 5 mg")
    client.post(f"/dossier/{rich.pk}/probleme/{problem.pk}/resoudre/")
    client.post(f"/dossier/{rich.pk}/traitement/{treatment.pk}/arreter/")
    page = client.get(f"/dossier/{rich.pk}/").content.decode()
    assert "Pathologies résolues" in page and "Ramipril" not in page


def test_terminology_search_json(client: Client, doctor, concepts) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    data = client.get("/dossier/terminologie/", {"systeme": "cim10", "q": "diabete type 2"}).json()
    assert data["results"][0] == {"code": "E11", "label": "Diabète sucré de type 2"}
    assert client.get("/dossier/terminologie/", {"systeme": "route", "q": "orale"}).json()["results"] == [
        {"code": "20053000", "label": "Voie orale"}
    ]
    assert client.get("/dossier/terminologie/", {"systeme": "loinc", "q": "x"}).status_code == 400
    assert client.post("/dossier/terminologie/", {"q": "x"}).status_code == 405
    client.logout()
    assert client.get("/dossier/terminologie/", {"q": "diab"}).status_code == 302  # login required


def test_record_reads_are_audited(client, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    from caducee.core.models import AuditEvent

    patient = make_patient()
    client.force_login(doctor)
    assert client.get(f"/dossier/{patient.pk}/").status_code == 200
    assert client.get(f"/dossier/{patient.pk}/historique/").status_code == 200
    actions = set(AuditEvent.objects.filter(patient_id=patient.pk, actor=doctor).values_list("action", flat=True))
    assert {"record.read", "record.history_read"} <= actions
