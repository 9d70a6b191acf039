"""Issue 13 §3 "Privacy default": on the "Envoyer" form the patient's own Mon espace santé mailbox is pre-ticked only
when the arrêté of 26 April 2022 asks for a send to the patient for that document, and every pre-ticked box says
why (documents/sharing_matrix.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client

from caducee.documents import sharing_matrix
from caducee.documents.cda import codes
from caducee.mss.models import Mailbox
from caducee.mss.selectors import patient_mss_address

pytestmark = pytest.mark.django_db


def _letter(doctor: Any, patient: Any, kind: str) -> Any:
    from caducee.documents.letters.services import letter_create, letters_seed_defaults
    from caducee.documents.models import LetterTemplate

    letters_seed_defaults()
    template = LetterTemplate.objects.filter(kind=kind).first()
    return letter_create(actor=doctor, patient=patient, template=template, correspondent="Dr BERNARD", body="Cher ami,")


def _patient_box(page: str, address: str) -> str:
    found = re.search(
        rf'<input type="checkbox" name="destinataire" value="{re.escape(address)}"[^>]*>[^<]*</label>'
        r'(?: <span class="hint">[^<]*</span>)?',
        page,
    )
    assert found, page
    return found.group(0)


def test_the_patient_is_ticked_only_when_the_arrete_asks_and_the_form_says_why(
    client: Client, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    """Before the fix, a ticked box said nothing of why, and the same "letter to a colleague" ticked the patient or not
    depending on the template (referral 96349-6 is in the arrêté; a free letter, filed as 11488-4, is not)."""
    from caducee.documents.models import LetterTemplate

    address = patient_mss_address(qual_patient.identity)
    assert address
    client.force_login(doctor)
    referral = _letter(doctor, qual_patient, LetterTemplate.Kind.REFERRAL)
    page = client.get(f"/messagerie/envoyer/?patient={qual_patient.pk}&document={referral.pk}").content.decode()
    box = _patient_box(page, address)
    assert " checked" in box
    assert "pré-coché : Envoi au patient demandé par l&#x27;arrêté du 26 avril 2022" in box
    assert "Lettres et courriers adressés à un professionnel de santé" in box

    free = _letter(doctor, qual_patient, LetterTemplate.Kind.FREE)
    page = client.get(f"/messagerie/envoyer/?patient={qual_patient.pk}&document={free.pk}").content.decode()
    box = _patient_box(page, address)
    assert " checked" not in box and "pré-coché" not in box

    page = client.get(f"/messagerie/envoyer/?patient={qual_patient.pk}").content.decode()  # no document: no one
    assert " checked" not in _patient_box(page, address)


def test_a_hidden_document_never_ticks_the_patient(
    client: Client, doctor: Any, doctor_mailbox: Mailbox, qual_patient: Any
) -> None:
    """INVISIBLE_PATIENT (regles-gestion-mssante.md): the arrêté's send to the patient does not apply."""
    from caducee.documents.models import LetterTemplate

    referral = _letter(doctor, qual_patient, LetterTemplate.Kind.REFERRAL)
    referral.dmp_invisible_patient = True
    referral.save(update_fields=["dmp_invisible_patient"])
    client.force_login(doctor)
    page = client.get(f"/messagerie/envoyer/?patient={qual_patient.pk}&document={referral.pk}").content.decode()
    assert " checked" not in _patient_box(page, patient_mss_address(qual_patient.identity) or "")


def test_the_matrix_reasons() -> None:
    """DMP defaults outside the arrêté (the VSM, the consultation report) never tick the patient's mailbox."""
    on = dt.date(2024, 1, 1)
    for code in (codes.DOC_CONSULTATION_REPORT, codes.DOC_REFERRAL_LETTER):
        assert sharing_matrix.mss_patient_default_reason(code.code, code.system, dt.date(2023, 11, 30)) == ""
    assert sharing_matrix.mss_patient_default_reason("SYNTH", sharing_matrix.CISIS_TYPES, on) == ""
    assert sharing_matrix.mss_patient_default_reason("11488-4", sharing_matrix.LOINC, on) == ""
    reason = sharing_matrix.mss_patient_default_reason("96349-6", sharing_matrix.LOINC, on)
    assert "01/12/2023" in reason
