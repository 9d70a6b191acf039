"""Consultation validation in one click (issue 3 §2): VSM pre-ticked, elements untickable, stored VSM valid."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.test import Client
from lxml import etree

from caducee.documents.models import Document
from caducee.record.models import Allergy, Consultation, Problem

pytestmark = pytest.mark.django_db

NS = {"h": "urn:hl7-org:v3"}


@pytest.fixture
def rich_patient(make_patient, doctor):  # type: ignore[no-untyped-def]
    patient = make_patient()
    patient.medecin_traitant = doctor
    patient.save(update_fields=["medecin_traitant"])
    Problem.objects.create(
        patient=patient, created_by=doctor, label="Diabète de type 2", cim10_code="E11", onset=dt.date(2015, 3, 1)
    )
    Allergy.objects.create(
        patient=patient,
        created_by=doctor,
        agent_kind="drug",
        agent_label="Pénicilline",
        reaction="Urticaire",
        severity="M",
    )
    Allergy.objects.create(
        patient=patient,
        created_by=doctor,
        agent_kind="substance",
        agent_label="Arachide",
        reaction="Œdème",
        severity="H",
    )
    return patient


def test_validate_with_vsm_and_one_allergy_unticked(client: Client, doctor, rich_patient, cda_validator) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    response = client.post(f"/consultations/patient/{rich_patient.pk}/nouvelle/")
    consultation = Consultation.objects.get()
    assert response.url == f"/consultations/{consultation.pk}/"
    page = client.get(response.url).content.decode()
    assert 'name="vsm" value="1" id="vsm" checked' in page  # no VSM yet: pre-ticked
    from caducee.core.models import AuditEvent

    assert AuditEvent.objects.filter(action="consultation.read", patient_id=rich_patient.pk).count() == 1
    peanut = Allergy.objects.get(agent_label="Arachide")
    keys = [f"allergy:{a.pk}" for a in Allergy.objects.all()] + [f"problem:{p.pk}" for p in Problem.objects.all()]
    for key in keys:
        assert f'value="{key}"' in page
    kept = [k for k in keys if k != f"allergy:{peanut.pk}"]
    response = client.post(
        f"/consultations/{consultation.pk}/enregistrer/",
        {
            "version": "1",
            "motif": "Renouvellement",
            "observation": "RAS",
            "action": "validate",
            "vsm": "1",
            "vsm_listed": keys,
            "vsm_keep": kept,
        },
    )
    assert response.status_code == 302, response.content
    consultation.refresh_from_db()
    assert consultation.state == "validee" and consultation.motif == "Renouvellement"
    vsm = Document.objects.get(model="vsm", consultation=consultation)
    cda = bytes(vsm.cda)
    text = cda.decode()
    assert "Pénicilline" in text and "Arachide" not in text  # unticked: neither narrative nor entry
    assert "E11" in text
    report = cda_validator.validate(cda)
    assert report.is_valid, report
    assert bytes(vsm.pdf).startswith(b"%PDF-")
    root = etree.fromstring(cda)
    assert root.find("h:code", NS).get("code") == "SYNTH"


def test_missing_mandatory_data_keeps_the_consultation_open(client: Client, doctor, rich_patient) -> None:  # type: ignore[no-untyped-def]
    doctor.rpps = ""
    doctor.save(update_fields=["rpps"])
    client.force_login(doctor)
    client.post(f"/consultations/patient/{rich_patient.pk}/nouvelle/")
    consultation = Consultation.objects.get()
    response = client.post(
        f"/consultations/{consultation.pk}/enregistrer/",
        {"version": "1", "action": "validate", "vsm": "1"},
        follow=True,
    )
    assert "rien n'a été enregistré" in html.unescape(response.content.decode())
    consultation.refresh_from_db()
    assert consultation.state == "en_cours"
    assert not Document.objects.exists()


def test_secretary_cannot_open_a_consultation(client: Client, secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(secretary)
    assert client.post(f"/consultations/patient/{patient.pk}/nouvelle/").status_code == 403
    assert "Nouvelle consultation" not in client.get(f"/patients/{patient.pk}/").content.decode()
    assert not Consultation.objects.exists()


def test_findings_enter_the_record_and_the_vsm(client: Client, doctor, rich_patient, cda_validator) -> None:  # type: ignore[no-untyped-def]
    from caducee.record.models import Vital

    client.force_login(doctor)
    client.post(f"/consultations/patient/{rich_patient.pk}/nouvelle/")
    consultation = Consultation.objects.get()
    response = client.post(
        f"/consultations/{consultation.pk}/enregistrer/",
        {
            "version": "1",
            "action": "validate",
            "vsm": "1",
            "poids": "72,5",
            "taille": "170",
            "pas": "135",
            "pad": "85",
            "diagnostic": "Hypertension essentielle",
            "diagnostic_code": "i10",
        },
    )
    assert response.status_code == 302
    kinds = set(Vital.objects.filter(patient=rich_patient).values_list("kind", flat=True))
    assert {"29463-7", "8302-2", "39156-5", "8480-6", "8462-4"} <= kinds  # BMI computed
    assert Problem.objects.filter(patient=rich_patient, cim10_code="I10").exists()
    vsm = bytes(Document.objects.get(model="vsm").cda)
    assert b"I10" in vsm
    assert cda_validator.validate(vsm).is_valid


def test_implausible_measure_validates_nothing(client: Client, doctor, rich_patient) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    client.post(f"/consultations/patient/{rich_patient.pk}/nouvelle/")
    consultation = Consultation.objects.get()
    page = client.post(
        f"/consultations/{consultation.pk}/enregistrer/",
        {"version": "1", "action": "validate", "vsm": "1", "poids": "7250"},
        follow=True,
    ).content.decode()
    assert "Consultation non validée" in html.unescape(page)
    consultation.refresh_from_db()
    assert consultation.state == "en_cours" and not Document.objects.exists()
