"""Document screens: list with filters, rendered CDA beside its PDF, VSM on demand; no access for a secretary."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.test import Client

from caducee.core.models import AuditEvent
from caducee.documents.models import Document
from caducee.documents.render import render_cda
from caducee.record.models import Allergy, Problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(make_patient, doctor):  # type: ignore[no-untyped-def]
    patient = make_patient()
    patient.medecin_traitant = doctor
    patient.save(update_fields=["medecin_traitant"])
    Problem.objects.create(
        patient=patient, created_by=doctor, label="Asthme <allergique>", cim10_code="J45", onset=dt.date(2010, 1, 1)
    )
    Allergy.objects.create(
        patient=patient,
        created_by=doctor,
        agent_kind="drug",
        agent_label="Aspirine",
        reaction="Bronchospasme",
        severity="H",
    )
    return patient


def test_vsm_on_demand_then_list_filter_and_detail(client: Client, doctor, patient) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    response = client.post(f"/documents/patient/{patient.pk}/vsm/")
    document = Document.objects.get(patient=patient, model="vsm")
    assert response.url == f"/documents/{document.pk}/"
    page = client.get(response.url).content.decode()
    # The narrative is rendered, escaped (no markup from the document reaches the page).
    assert "Asthme &lt;allergique&gt;" in page and "<allergique>" not in page
    assert f'src="/documents/{document.pk}/pdf/"' in page
    pdf = client.get(f"/documents/{document.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf["X-Frame-Options"] == "SAMEORIGIN"
    listing = html.unescape(client.get(f"/documents/patient/{patient.pk}/").content.decode())
    assert "Volet de synthèse médicale" in listing
    assert "Aucun document" in client.get(f"/documents/patient/{patient.pk}/?categorie=labo").content.decode()
    assert "Aucun document" in client.get(f"/documents/patient/{patient.pk}/?texte=zzz").content.decode()
    assert AuditEvent.objects.filter(action="document.read", patient_id=patient.pk).count() == 1
    # A second VSM is a new version of the same set.
    client.post(f"/documents/patient/{patient.pk}/vsm/")
    second = Document.objects.filter(model="vsm").order_by("-id").first()
    assert second.version_number == 2 and second.set_id_ext == document.set_id_ext


def test_secretary_sees_no_document(client: Client, secretary, doctor, patient) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    client.post(f"/documents/patient/{patient.pk}/vsm/")
    document = Document.objects.get()
    client.force_login(secretary)
    for url in (
        f"/documents/patient/{patient.pk}/",
        f"/documents/{document.pk}/",
        f"/documents/{document.pk}/pdf/",
        f"/documents/{document.pk}/cda.xml",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/documents/patient/{patient.pk}/vsm/").status_code == 403
    assert Document.objects.count() == 1


def test_render_refuses_hostile_xml() -> None:
    from caducee.documents.validation import UnsafeXml

    with pytest.raises(UnsafeXml):
        render_cda(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ClinicalDocument>&e;</ClinicalDocument>')
