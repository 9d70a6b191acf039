"""One eligibility rule for the DMP (issue 12 §4): `dmp.selectors.dmp_feed_refusal` decides for the validation
panel, `consultation_validate`, the service and the handler. A patient who opposed the feed (SC.DMP/CONF.06), or
without a QUAL identity (R28), is not offered the DMP box, and the screen says why."""

from __future__ import annotations

import pytest
from django.test import Client

from caducee.core.models import Delivery
from caducee.dmp.selectors import OPPOSED, dmp_feed_refusal
from caducee.dmp.services import DmpServiceError, dmp_consent_record, dmp_send_document
from caducee.record.models import Consultation
from tests.documents.cda_records import qualify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sandbox(settings) -> None:  # type: ignore[no-untyped-def]
    # The test identities (INS of the test series) may be sent only by a practice on the sandbox (R28 guard).
    settings.SANDBOX = True


@pytest.fixture
def opposed(make_patient, doctor):  # type: ignore[no-untyped-def]
    patient = qualify(make_patient())
    dmp_consent_record(actor=doctor, patient=patient, feed_opposed=True, consult_consent=False)
    return patient


def test_an_opposed_patient_is_not_offered_the_dmp_box_and_the_panel_says_why(client: Client, doctor, opposed) -> None:  # type: ignore[no-untyped-def]
    """SC.DMP/CONF.06: before the fix the box was offered (the panel only looked at the identity)."""
    client.force_login(doctor)
    client.post(f"/consultations/patient/{opposed.pk}/nouvelle/")
    consultation = Consultation.objects.get()
    panel = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert 'name="dmp"' not in panel
    assert "DMP non proposé" in panel and "opposé à l&#x27;alimentation de son DMP" in panel


def test_validating_with_dmp_asked_for_an_opposed_patient_says_so(client: Client, doctor, opposed) -> None:  # type: ignore[no-untyped-def]
    """A stale form (the box was ticked before the opposition was recorded) validates, queues nothing, says why."""
    client.force_login(doctor)
    client.post(f"/consultations/patient/{opposed.pk}/nouvelle/")
    consultation = Consultation.objects.get()
    response = client.post(
        f"/consultations/{consultation.pk}/enregistrer/",
        {"version": consultation.version, "action": "validate", "vsm": "1", "dmp": "1"},
        follow=True,
    )
    page = response.content.decode()
    assert "Consultation validée" in page
    assert "DMP non alimenté" in page and "SC.DMP/CONF.06" in page
    assert not Delivery.objects.exists()


def test_the_service_refuses_with_the_same_reason(doctor, opposed) -> None:  # type: ignore[no-untyped-def]
    from caducee.documents.production import vsm_create

    document = vsm_create(actor=doctor, patient=opposed)
    assert dmp_feed_refusal(opposed) == OPPOSED
    with pytest.raises(DmpServiceError) as refused:
        dmp_send_document(actor=doctor, document=document)
    assert str(refused.value) == OPPOSED


def test_a_qualified_patient_who_did_not_object_may_be_fed(make_patient) -> None:  # type: ignore[no-untyped-def]
    assert dmp_feed_refusal(qualify(make_patient())) == ""
