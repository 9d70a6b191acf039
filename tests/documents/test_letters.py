"""Letters (issue 3 §3): whitelist merge fields, N1 document wrapping a PDF/A, permissions, the screens."""

from __future__ import annotations

import base64
import datetime as dt
import html

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from caducee.core.models import AuditEvent
from caducee.documents.cda.header import MissingDataError
from caducee.documents.letters.merge import MergeContext, MergeError, merge, unknown_fields
from caducee.documents.letters.services import (
    KIND_TYPE_CODES,
    LetterError,
    letter_create,
    letters_seed_defaults,
)
from caducee.documents.letters.text import paragraphs
from caducee.documents.models import Document, LetterTemplate, Sequence
from tests.documents.cda_records import parse, xp

pytestmark = pytest.mark.django_db

URLS = "tests.documents.letters_urls"
TODAY = dt.date(2026, 11, 22)


@pytest.fixture(autouse=True)
def default_templates(db: None) -> None:
    # Migration 0003 seeds them, but a transactional test (browser tests) flushes the tables after itself.
    letters_seed_defaults()


@pytest.fixture
def referral() -> LetterTemplate:
    return LetterTemplate.objects.get(kind=LetterTemplate.Kind.REFERRAL)


def _context(patient, practice, doctor, correspondent: str = "Dr Claire DURAND") -> MergeContext:  # type: ignore[no-untyped-def]
    return MergeContext(patient=patient, practice=practice, author=doctor, correspondent=correspondent, today=TODAY)


# --- Merge --------------------------------------------------------------------------------------


def test_merge_fills_known_fields(make_patient, practice, doctor) -> None:  # type: ignore[no-untyped-def]
    practice.city, practice.phone = "Lyon", "04 78 00 00 00"
    doctor.first_name = "Jean"
    text = (
        "{{patient.civilite}} {{ patient.prenom }} {{patient.nom}}, {{patient.ne}} le {{patient.date_naissance}}\n"
        "À {{correspondant}} — {{structure.nom}}, {{structure.ville}}, {{structure.telephone}}\n"
        "{{medecin.nom}} (RPPS {{medecin.rpps}}), le {{date}}"
    )
    assert merge(text, _context(make_patient(), practice, doctor)) == (
        "Madame DOMINIQUE ADRTROIS, née le 26/02/1997\n"
        "À Dr Claire DURAND — MSP de test, Lyon, 04 78 00 00 00\n"
        "Dr Jean MEDECIN (RPPS 89970012345), le 22/11/2026"
    )


def test_merge_names_every_unknown_field(make_patient, practice, doctor) -> None:  # type: ignore[no-untyped-def]
    text = "{{patient.nom}} {{patient.adresse}} {{ Patient.Nom }} {{patient.nom|upper}} {{patient.adresse}}"
    assert unknown_fields(text) == ["patient.adresse", "Patient.Nom", "patient.nom|upper"]
    with pytest.raises(MergeError) as caught:
        merge(text, _context(make_patient(), practice, doctor))
    message = str(caught.value)
    assert message.startswith(
        "Champs de fusion inconnus : {{patient.adresse}}, {{Patient.Nom}}, {{patient.nom|upper}}. Champs disponibles"
    )
    assert "{{patient.date_naissance}}" in message


def test_merge_is_not_a_template_engine(make_patient, practice, doctor) -> None:  # type: ignore[no-untyped-def]
    """Django template syntax stays text; values are inserted once, raw (escaping is the renderer's job)."""
    patient = make_patient(birth_name="O'BRIEN")
    hostile = 'Dr <b>X</b> & "Y" {{medecin.rpps}}'
    text = "{% load static %}{% debug %} {{ request }} "
    with pytest.raises(MergeError, match=r"\{\{request\}\}"):
        merge(text, _context(patient, practice, doctor, hostile))
    merged = merge("{% debug %} {{patient.nom}} à {{correspondant}} {{", _context(patient, practice, doctor, hostile))
    # The correspondent's own "{{medecin.rpps}}" is not expanded: one pass only.
    assert merged == '{% debug %} O\'BRIEN à Dr <b>X</b> & "Y" {{medecin.rpps}} {{'


def test_paragraphs_split_on_blank_lines() -> None:
    assert paragraphs("\r\nCher confrère,\r\n\r\n  \nLigne 1\nLigne 2\n\n\n{{x}}\n") == [
        "Cher confrère,",
        "Ligne 1\nLigne 2",
        "{{x}}",
    ]


def test_default_templates_are_seeded_and_merge_cleanly(make_patient, practice, doctor) -> None:  # type: ignore[no-untyped-def]
    assert letters_seed_defaults() == 0  # idempotent
    templates = list(LetterTemplate.objects.all())
    assert {t.kind for t in templates} == set(LetterTemplate.Kind.values)
    for template in templates:
        assert "{{" not in merge(template.body, _context(make_patient(), practice, doctor)), template.name
    LetterTemplate.objects.filter(kind=LetterTemplate.Kind.FREE).delete()
    assert letters_seed_defaults() == 1


# --- Service ------------------------------------------------------------------------------------


def test_letter_is_stored_as_a_valid_n1_with_its_pdfa(cda_validator, make_patient, practice, doctor, referral) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient(birth_name="L'HOTE-CŒUR")
    body = "Cher confrère,\n\nJe vous adresse {{patient.civilite}} {{patient.nom}} : cœur & poumons < 12 €.\n\nAmitiés"
    document = letter_create(
        actor=doctor, patient=patient, template=referral, correspondent="  Dr  Claire <DURAND> & fils ", body=body
    )
    document.refresh_from_db()
    assert (document.model, document.category, document.state) == ("n1", "courrier", "valide")
    assert (document.type_code, document.type_label) == ("96349-6", "Lettre d'adressage")
    assert document.title == "Lettre d'adressage — Dr Claire <DURAND> & fils"
    assert (document.theme, document.correspondent) == ("Lettre d'adressage", "Dr Claire <DURAND> & fils")
    xml = bytes(document.cda)
    report = cda_validator.validate(xml)
    assert report.is_valid, report.format()
    root = parse(xml)
    assert xp(root, "/h:ClinicalDocument/h:code/@code") == ["96349-6"]
    assert xp(root, "/h:ClinicalDocument/h:title/text()") == ["Lettre d'adressage — Dr Claire <DURAND> & fils"]
    assert xp(root, "/h:ClinicalDocument/h:id/@extension") == [document.unique_id_ext]
    embedded = base64.b64decode(xp(root, "/h:ClinicalDocument/h:component/h:nonXMLBody/h:text")[0].text)
    assert embedded == bytes(document.pdf)
    # The PDF is the PDF/A with the merged text (decoded through the fonts' ToUnicode maps).
    from tests.documents.test_pdf import pdf_text

    text = pdf_text(embedded)
    assert "À l'attention de Dr Claire <DURAND> & fils" in text
    assert "Je vous adresse Madame L'HOTE-COEUR : cœur & poumons < 12 €." in text
    assert b"<pdfaid:part>1</pdfaid:part>" in embedded
    assert AuditEvent.objects.filter(action="document.create", object_id=str(document.pk)).count() == 1


@pytest.mark.parametrize("kind", list(LetterTemplate.Kind))
def test_each_kind_has_its_j07_type_code(make_patient, practice, doctor, kind) -> None:  # type: ignore[no-untyped-def]
    template = LetterTemplate.objects.get(kind=kind)
    document = letter_create(actor=doctor, patient=make_patient(), template=template, correspondent="", body="Texte.")
    assert document.type_code == KIND_TYPE_CODES[kind].code
    assert document.title == kind.label and document.correspondent == ""


def test_secretary_is_refused_and_nothing_is_stored(make_patient, practice, secretary, referral) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    events = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        letter_create(actor=secretary, patient=patient, template=referral, correspondent="", body="Bonjour")
    assert not Document.objects.exists()
    assert not Sequence.objects.exists()
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("body", "error"),
    [("{{patient.secu}}", MergeError), ("  \n\n ", LetterError), ("{{correspondant}}", LetterError)],
)
def test_errors_store_nothing(make_patient, practice, doctor, referral, body, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        letter_create(actor=doctor, patient=make_patient(), template=referral, correspondent="", body=body)
    assert not Document.objects.exists() and not Sequence.objects.exists()


def test_missing_header_data_is_listed_and_nothing_stored(make_patient, practice, doctor, referral) -> None:  # type: ignore[no-untyped-def]
    doctor.rpps = ""
    doctor.save(update_fields=["rpps"])
    with pytest.raises(MissingDataError, match="RPPS"):
        letter_create(actor=doctor, patient=make_patient(), template=referral, correspondent="", body="Bonjour")
    assert not Document.objects.exists() and not Sequence.objects.exists()


# --- Screens ------------------------------------------------------------------------------------


@pytest.mark.urls(URLS)
def test_letter_flow_in_three_clicks(client: Client, make_patient, practice, doctor, referral) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(doctor)
    choose = client.get(f"/documents/patient/{patient.pk}/courrier/")
    page = choose.content.decode()
    assert choose.status_code == 200
    assert f'action="/documents/patient/{patient.pk}/courrier/redaction/"' in page
    assert f'name="modele" value="{referral.pk}"' in page
    # Click 2: the template, with the correspondent typed on the same form.
    write = client.get(
        f"/documents/patient/{patient.pk}/courrier/redaction/",
        {"modele": referral.pk, "correspondant": "Dr <Claire> DURAND"},
    )
    page = write.content.decode()
    assert write.status_code == 200
    assert "<script" not in page.split("</head>", 1)[1] and "style=" not in page  # CSP: no inline code
    assert 'value="Dr &lt;Claire&gt; DURAND"' in page
    assert "Je vous adresse Madame DOMINIQUE ADRTROIS, née le 26/02/1997" in html.unescape(page)
    assert "{{patient.nom}}" in html.unescape(page)  # listed in the merge-field help
    # Click 3: save the (edited) text.
    response = client.post(
        f"/documents/patient/{patient.pk}/courrier/redaction/",
        {"modele": referral.pk, "correspondant": "Dr Claire DURAND", "texte": "Cher confrère,\n\n{{patient.nom}} <b>"},
    )
    document = Document.objects.get()
    assert response.status_code == 302 and response.url == f"/documents/{document.pk}/"
    assert document.correspondent == "Dr Claire DURAND" and document.category == "courrier"
    detail = client.get(response.url).content.decode()
    assert "Courrier enregistré : Lettre d&#x27;adressage — Dr Claire DURAND." in detail
    assert f'src="/documents/{document.pk}/pdf/"' in detail


@pytest.mark.urls(URLS)
def test_unknown_field_is_shown_and_the_text_kept(client: Client, make_patient, practice, doctor, referral) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(doctor)
    url = f"/documents/patient/{patient.pk}/courrier/redaction/"
    response = client.post(url, {"modele": referral.pk, "correspondant": "", "texte": "Bonjour {{patient.nss}} <i>"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "Champ de fusion inconnu : {{patient.nss}}" in html.unescape(page)
    assert "Bonjour {{patient.nss}} &lt;i&gt;</textarea>" in page
    assert not Document.objects.exists()
    # A template with a broken field opens unmerged, with the error, instead of failing.
    broken = LetterTemplate.objects.create(name="Cassé", kind="libre", body="{{patient.nom}} {{inconnu}}")
    page = client.get(url, {"modele": broken.pk}).content.decode()
    assert "{{patient.nom}} {{inconnu}}</textarea>" in page and "{{inconnu}}" in html.unescape(page)
    # Unknown or inactive templates: 404.
    broken.is_active = False
    broken.save()
    assert client.get(url, {"modele": broken.pk}).status_code == 404
    assert client.get(url, {"modele": "x"}).status_code == 404
    assert client.post(url, {"texte": "Bonjour"}).status_code == 404


@pytest.mark.urls(URLS)
def test_secretary_cannot_open_the_letter_screens(client: Client, make_patient, practice, secretary, referral) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(secretary)
    assert client.get(f"/documents/patient/{patient.pk}/courrier/").status_code == 403
    url = f"/documents/patient/{patient.pk}/courrier/redaction/"
    assert client.get(url, {"modele": referral.pk}).status_code == 403
    assert client.post(url, {"modele": referral.pk, "texte": "Bonjour"}).status_code == 403
    assert not Document.objects.exists()


# --- The record's merge fields (issue 13 §2) -----------------------------------------------------------------------


def test_merge_fields_of_the_record(make_patient, practice, doctor) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 §2: the referral letter merges the problems, history, treatments and allergies. Failed before the fix:
    MergeError « Champs de fusion inconnus : {{patient.problemes}}, … »."""
    from decimal import Decimal

    from caducee.record.models import Allergy, History, LongTermTreatment, Problem

    patient = make_patient()
    Problem.objects.create(patient=patient, created_by=doctor, label="Diabète de type 2", cim10_code="E11")
    Problem.objects.create(patient=patient, created_by=doctor, label="Asthme", status=Problem.Status.RESOLVED)
    History.objects.create(patient=patient, created_by=doctor, kind=History.Kind.SURGICAL, label="Appendicectomie")
    LongTermTreatment.objects.create(
        patient=patient,
        created_by=doctor,
        drug_label="Metformine 1000 mg",
        dose_quantity=Decimal("2"),
        dose_unit="{tablet}",
        frequency="matin et soir",
    )
    LongTermTreatment.objects.create(
        patient=patient, created_by=doctor, drug_label="Ancien traitement", end=TODAY - dt.timedelta(days=1)
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
        patient=patient, created_by=doctor, agent_kind="substance", agent_label="Iode", is_intolerance=True
    )
    text = (
        "Pathologies :\n{{patient.problemes}}\n\nAntécédents :\n{{ patient.antecedents }}\n\n"
        "Traitement :\n{{patient.traitements}}\n\nAllergies :\n{{patient.allergies}}"
    )
    assert merge(text, _context(patient, practice, doctor)) == (
        "Pathologies :\n– Diabète de type 2 (E11)\n\n"
        "Antécédents :\n– Appendicectomie\n\n"
        "Traitement :\n– Metformine 1000 mg — 2 comprimés, matin et soir\n\n"
        "Allergies :\n– Iode (intolérance)\n– Pénicilline : Urticaire, modérée"
    )


def test_record_merge_fields_say_when_nothing_is_recorded(make_patient, practice, doctor) -> None:  # type: ignore[no-untyped-def]
    """An empty list is said in words; allergies « non renseignées » are not « aucune allergie connue » (VSM rule)."""
    from caducee.record.models import AllergyStatement

    patient = make_patient()
    text = "{{patient.problemes}} / {{patient.traitements}} / {{patient.allergies}}"
    assert merge(text, _context(patient, practice, doctor)) == (
        "Aucune pathologie en cours / Aucun traitement au long cours / Non renseignées"
    )
    AllergyStatement.objects.create(patient=patient, none_known=True, asserted_by=doctor)
    assert merge("{{patient.allergies}}", _context(patient, practice, doctor)) == "Aucune allergie connue"


@pytest.mark.urls(URLS)
def test_the_referral_template_and_the_editor_offer_the_record_fields(
    client: Client, make_patient, practice, doctor, referral
) -> None:  # type: ignore[no-untyped-def]
    """The editor lists the new fields, and the default referral template uses them (a new practice's template)."""
    from caducee.record.models import Problem

    patient = make_patient()
    Problem.objects.create(patient=patient, created_by=doctor, label="Hypertension artérielle", cim10_code="I10")
    client.force_login(doctor)
    page = html.unescape(
        client.get(f"/documents/patient/{patient.pk}/courrier/redaction/", {"modele": referral.pk}).content.decode()
    )
    for name in ("patient.problemes", "patient.antecedents", "patient.traitements", "patient.allergies"):
        assert "{{" + name + "}}" in page
    assert "Pathologies en cours :\n– Hypertension artérielle (I10)" in page
    assert "Allergies :\nNon renseignées" in page
