"""Issue 13 §4: document builders never fail on stored text. Text stored before inputs were cleaned (or by an import)
may hold control characters: the CDA builders (VSM, IPS-FR, N1), the PDF and the letters strip them at output, so
every letter and « VSM maintenant » of that patient works and the consultation validation shows no lxml message."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client

from caducee.documents.cda.ips import build_ips
from caducee.documents.cda.vsm import build_vsm
from caducee.documents.letters.services import letter_create, letters_seed_defaults
from caducee.documents.models import Document, LetterTemplate
from caducee.documents.pdf import printable
from caducee.identity.models import Identity
from caducee.patients.models import Patient
from caducee.record import models as rec
from caducee.record.consultations import consultation_open
from tests.documents.cda_records import assert_conformant_volet, build_summary, parse, xp
from tests.documents.test_vsm import IDS

pytestmark = pytest.mark.django_db

# PostgreSQL cannot store a NUL in a text column at all (only SQLite kept them): there the stored text holds the
# other control characters.
CONTROLS = ("" if connection.vendor == "postgresql" else "\x00") + "\x01\x08\x0b\x0c\x1b\x7f\x85\x9f"
# What XML 1.0 forbids (every C0 control but tab, LF, CR) and the C1 controls the input rule removes too.
FORBIDDEN = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


@pytest.fixture
def author(doctor):  # type: ignore[no-untyped-def]
    doctor.first_name, doctor.specialty_code = "Claire", "SM54"
    doctor.save()
    return doctor


@pytest.fixture
def dirty_patient(make_patient) -> Patient:  # type: ignore[no-untyped-def]
    """A patient whose stored data holds control characters (written as an old version or an import would)."""
    patient = make_patient()
    Patient.objects.filter(pk=patient.pk).update(address_line=f"1 rue{CONTROLS} des Lilas", city=f"Ly{CONTROLS}on")
    Identity.objects.filter(pk=patient.identity_id).update(used_name=f"MARTIN{CONTROLS}")
    rec.Problem.objects.create(patient=patient, label=f"Asthme{CONTROLS} allergique", cim10_code="J45")
    rec.Allergy.objects.create(
        patient=patient,
        agent_kind=rec.Allergy.AgentKind.SUBSTANCE,
        agent_label="Latex",
        reaction=f"Urticaire{CONTROLS}",
    )
    rec.VigilancePoint.objects.create(patient=patient, text=f"Chutes{CONTROLS[:1]} fréquentes{CONTROLS}")
    patient.refresh_from_db()
    return patient


def test_the_summary_builders_strip_control_characters(cda_validator, practice, author, dirty_patient) -> None:  # type: ignore[no-untyped-def]
    """Before issue 13: ValueError « All strings must be XML compatible » from lxml."""
    vsm = build_summary(build_vsm, practice, author, dirty_patient, ids=IDS)
    ips = build_summary(build_ips, practice, author, dirty_patient, ids=IDS)
    for xml in (vsm, ips):
        assert not FORBIDDEN.search(xml)
    texts = xp(parse(vsm), "//h:content/text()") + xp(parse(vsm), "//h:td/text()")
    assert "Asthme\n\n\n allergique" in texts  # VT, FF and NEL (Word, a PDF) are line breaks; the rest goes
    assert_conformant_volet(cda_validator, vsm, "VSM_1.4_2022.01")


def test_the_pdf_removes_control_characters_instead_of_drawing_them() -> None:
    assert printable(f"Ly{CONTROLS}on") == "Ly\n\n\non"
    assert printable("a\x00b") == "ab"


def test_a_letter_is_stored_for_a_patient_with_control_characters(practice, author, dirty_patient) -> None:  # type: ignore[no-untyped-def]
    letters_seed_defaults()
    template = LetterTemplate.objects.get(kind=LetterTemplate.Kind.REFERRAL)
    document = letter_create(
        actor=author,
        patient=dirty_patient,
        template=template,
        correspondent="Dr Claire DURAND",
        body=f"Cher confrère,\n\nJe vous adresse {{{{patient.prenom}}}}{CONTROLS}.\n\nBien à vous.",
    )
    assert not FORBIDDEN.search(bytes(document.cda))
    assert document.pdf


def test_vsm_now_and_letters_answer_for_a_patient_with_control_characters(
    client: Client, practice, author, dirty_patient
) -> None:  # type: ignore[no-untyped-def]
    """Before issue 13: a 500 on « VSM maintenant » and on every letter of this patient (SQLite)."""
    letters_seed_defaults()
    client.force_login(author)
    response = client.post(f"/documents/patient/{dirty_patient.pk}/vsm/")
    assert response.status_code == 302 and response.url.startswith("/documents/"), response
    template = LetterTemplate.objects.get(kind=LetterTemplate.Kind.REFERRAL)
    response = client.post(
        f"/documents/patient/{dirty_patient.pk}/courrier/redaction/",
        {"modele": template.pk, "correspondant": "Dr DURAND", "texte": "Cher confrère,\n\nMerci."},
    )
    assert response.status_code == 302, response
    assert Document.objects.filter(patient=dirty_patient).count() == 2


def test_consultation_validation_shows_no_lxml_message(client: Client, practice, author, dirty_patient) -> None:  # type: ignore[no-untyped-def]
    """Before issue 13: « All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters »
    shown to the doctor, and no VSM."""
    consultation = consultation_open(actor=author, patient=dirty_patient)
    client.force_login(author)
    response = client.post(
        f"/consultations/{consultation.pk}/enregistrer/",
        {"version": consultation.version, "motif": "Toux", "action": "validate", "vsm": "1"},
    )
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert response.status_code == 302 and response.url == f"/patients/{dirty_patient.pk}/", shown
    assert not any("XML" in message for message in shown), shown
    assert any(message.startswith("Consultation validée.") for message in shown), shown
