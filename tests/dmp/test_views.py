"""The DMP screens against the real sandbox: the chart's DMP tab (status, consent, documents, mask, delete),
"Envoyer au DMP" on a stored document (SC.DMP/HISTO.01 state shown), the validation panel's "Envoyer au DMP"
(pre-ticked per the matrix, offered to qualified identities only), and the role matrix (a secretary sees
nothing of the DMP, and nothing is sent on her behalf)."""

# ruff: noqa: F811 — pytest fixtures imported by name and used as arguments
from __future__ import annotations

import pytest
from django.test import Client

from caducee.core.models import AuditEvent, Delivery
from caducee.core.outbox import run_worker
from caducee.dmp.models import DmpConsent, DmpEntry
from caducee.record.consultations import consultation_open
from tests.dmp.fake_dmp import store_n1
from tests.dmp.test_dmp_sandbox_flow import FREE_INS, on_sandbox, qualified  # noqa: F401
from tests.sandbox.fixtures import dmp_sandbox, insi_sandbox_session  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_dmp_tab_consent_query_list_open_mask_delete(
    on_sandbox, client: Client, practice, doctor, make_patient
) -> None:  # type: ignore[no-untyped-def]
    patient = qualified(make_patient, FREE_INS)
    letter = store_n1(practice=practice, author=doctor, patient=patient, title="Lettre au cardiologue")
    client.force_login(doctor)

    page = client.get(f"/dmp/patient/{patient.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "pas encore été interrogé" in html and "data-dmp-autoquery" in html  # UX.07 asked in the background

    # One click on the document: "Envoyer au DMP"; its state is shown document by document (HISTO.01).
    response = client.post(f"/dmp/envoyer/{letter.pk}/")
    assert response.status_code == 302
    detail = client.get(f"/documents/{letter.pk}/").content.decode()
    assert "En attente d&#x27;envoi au DMP" in detail and "Envoyer au DMP</button>" not in detail
    assert run_worker(until_idle=True).sent == 1
    assert "Envoyé au DMP le " in client.get(f"/documents/{letter.pk}/").content.decode()
    assert "Envoyé au DMP le " in client.get(f"/documents/patient/{patient.pk}/").content.decode()

    # Consultation needs the patient's consent (CONF.06/09), recorded in one form.
    client.post(f"/dmp/patient/{patient.pk}/consentement/", {"consult_consent": "1"})
    assert DmpConsent.objects.get(patient=patient).consult_consent
    partial = client.post(f"/dmp/patient/{patient.pk}/interroger/", headers={"X-Partial": "1"})
    body = partial.content.decode()
    assert "DMP ouvert" in body and "Lettre au cardiologue" in body and "data-dmp-autoquery" not in body

    entry = DmpEntry.objects.get(patient=patient, unique_id=letter.unique_id)
    opened = client.get(f"/dmp/document/{entry.pk}/").content.decode()
    assert "Lettre au cardiologue" in opened and f"/dmp/document/{entry.pk}/pdf/" in opened
    pdf = client.get(f"/dmp/document/{entry.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")

    # "Masquer" is one click (the doctor authored it); the badge shows it.
    client.post(f"/dmp/document/{entry.pk}/visibilite/", {"visibility": "MASQUE_PS"})
    entry = DmpEntry.objects.get(patient=patient, unique_id=letter.unique_id)
    assert entry.masked_ps
    assert "Masqué aux professionnels de santé" in client.get(f"/dmp/patient/{patient.pk}/").content.decode()
    client.post(f"/dmp/document/{entry.pk}/supprimer/")
    assert not DmpEntry.objects.filter(unique_id=letter.unique_id).exists()
    actions = set(AuditEvent.objects.filter(patient_id=patient.pk).values_list("action", flat=True))
    assert {"dmp.panel", "dmp.consent"} <= actions


def test_unqualified_identity_gets_no_dmp_action(client: Client, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()  # PROV: no INS may leave (R28)
    client.force_login(doctor)
    html = client.get(f"/dmp/patient/{patient.pk}/").content.decode()
    assert "Identité non qualifiée" in html and "Interroger le DMP" not in html and "data-dmp-autoquery" not in html
    consultation = consultation_open(actor=doctor, patient=patient)
    panel = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert 'name="dmp"' not in panel and "DMP non proposé" in panel and "n&#x27;est pas qualifiée" in panel


def test_validation_panel_offers_the_dmp_pre_ticked(on_sandbox, client: Client, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = qualified(make_patient, FREE_INS)
    consultation = consultation_open(actor=doctor, patient=patient)
    client.force_login(doctor)
    panel = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert 'name="dmp" value="1" id="dmp" checked' in panel  # the summary goes to the DMP by default (matrix)
    client.post(
        f"/consultations/{consultation.pk}/enregistrer/",
        {
            "version": consultation.version,
            "action": "validate",
            "vsm": "1",
            "dmp": "1",
            "dmp_visibility": "INVISIBLE_PATIENT",
        },
    )
    (delivery,) = Delivery.objects.filter(channel="dmp")
    assert delivery.payload["visibility"] == ["INVISIBLE_PATIENT"]


def test_secretary_sees_no_dmp_and_sends_nothing(
    on_sandbox, client: Client, practice, doctor, secretary, make_patient
) -> None:  # type: ignore[no-untyped-def]
    patient = qualified(make_patient, FREE_INS)
    letter = store_n1(practice=practice, author=doctor, patient=patient)
    client.force_login(secretary)
    assert client.get(f"/dmp/patient/{patient.pk}/").status_code == 403
    assert client.post(f"/dmp/envoyer/{letter.pk}/").status_code == 403
    assert client.post(f"/dmp/patient/{patient.pk}/consentement/", {"consult_consent": "1"}).status_code == 403
    assert not Delivery.objects.exists() and not DmpConsent.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="dmp.").exists()


def test_dmp_tab_query_budget_does_not_grow_with_the_dmp(  # type: ignore[no-untyped-def]
    client: Client, doctor, make_patient, django_assert_max_num_queries, settings
) -> None:
    """The tab reads a fixed number of queries whatever the number of documents (bench: 200 documents)."""
    from django.utils import timezone

    settings.SANDBOX = True  # the test INS may be shown (R28 gate): no DMP call is made by the page itself
    patient = qualified(make_patient, FREE_INS)
    for i in range(40):
        DmpEntry.objects.create(
            patient=patient,
            professional=doctor,  # the doctor's own cache (issue 13 §3: per professional)
            entry_uuid=f"urn:uuid:{i}",
            unique_id=f"1.2.3^{i}",
            status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
            title=f"Document {i}",
            type_code="11502-2",
            type_code_system="2.16.840.1.113883.6.1",
            author_label="Dr ROUX",
            creation_time=timezone.now(),
            service_start_time=timezone.now(),
        )
    client.force_login(doctor)
    # session, user, patient, audit ×3, access, consent, entries, deliveries, the top bar's unread counter and
    # replacement banner
    with django_assert_max_num_queries(13):
        html = client.get(f"/dmp/patient/{patient.pk}/").content.decode()
    assert html.count('data-unique-id="1.2.3^') == 40
