"""The product against the real DMP sandbox, over the real client (mutual TLS, VIHF, MTOM, XAdES) and the real outbox
worker: feed from a validated consultation and from `caducee vsm --ald --send-dmp`, list (TD3.1), open (TD3.2), mask,
archive, delete; closed / absent DMP refused with a French reason (issue 4 acceptance, on a small fixture)."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from caducee.cabinet.consultations import consultation_validate
from caducee.core.models import Delivery
from caducee.core.outbox import run_worker
from caducee.dmp.api import STATUS_ARCHIVED
from caducee.dmp.models import DmpEntry
from caducee.dmp.selectors import document_dmp_state
from caducee.dmp.services import (
    DmpServiceError,
    dmp_archive,
    dmp_check,
    dmp_consent_record,
    dmp_delete,
    dmp_open,
    dmp_refresh,
    dmp_send_document,
    dmp_set_visibility,
)
from caducee.identity.models import Status
from caducee.patients.models import Ald
from caducee.record.consultations import consultation_open
from tests.dmp.fake_dmp import store_n1
from tests.sandbox.fixtures import (  # noqa: F401
    dmp_sandbox,
    dmp_sandbox_settings,
    insi_sandbox_session,
    use_sandbox_settings,
)

pytestmark = pytest.mark.django_db(transaction=True)

FREE_INS = "297022A02012345"  # a test INS without exception in the sandbox: open DMP
CLOSED_INS = "158115935021709"  # sandbox data/dmp_patients.json: closed DMP
NO_DMP_INS = "135123306351281"  # the patient objected to its creation
TEST_OID = "1.2.250.1.213.1.4.10"


@pytest.fixture
def on_sandbox(dmp_sandbox, insi_sandbox_session, settings, tmp_path: Path):  # type: ignore[no-untyped-def]  # noqa: F811
    """The product pointed at this test's own DMP sandbox with the settings `caducee sandbox` would publish for it;
    settings.SANDBOX on (R28: test INS allowed), a data dir of its own."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    use_sandbox_settings(settings, dmp_sandbox_settings(dmp_sandbox, insi_sandbox_session.data_dir))
    settings.SANDBOX = True
    settings.DATA_DIR = data_dir
    return dmp_sandbox


def qualified(make_patient, matricule: str, **traits: str):  # type: ignore[no-untyped-def]
    patient = make_patient(**traits)
    identity = patient.identity
    identity.status, identity.ins_matricule, identity.ins_oid = Status.QUAL, matricule, TEST_OID
    identity.save()
    return patient


def test_feed_list_open_mask_archive_delete(on_sandbox, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = qualified(make_patient, FREE_INS)
    dmp_consent_record(actor=doctor, patient=patient, feed_opposed=False, consult_consent=True)
    letter = store_n1(practice=practice, author=doctor, patient=patient)
    dmp_send_document(actor=doctor, document=letter)
    consultation = consultation_open(actor=doctor, patient=patient)
    (vsm,) = consultation_validate(
        actor=doctor, consultation=consultation, make_vsm=True, vsm_exclude=set(), send_dmp=True
    )
    stats = run_worker(until_idle=True)
    assert (stats.sent, stats.failed, stats.rejected) == (2, 0, 0), list(Delivery.objects.values("last_error"))
    assert document_dmp_state(vsm).startswith("Envoyé au DMP le ")

    entries = {e.unique_id: e for e in dmp_refresh(actor=doctor, patient=patient)}
    assert {letter.unique_id, vsm.unique_id} <= set(entries)
    mine = entries[vsm.unique_id]
    assert mine.local_document_id == vsm.pk and mine.seen  # UX.36: our own document, not highlighted
    assert mine.format_code == "urn:asip:ci-sis:vsm:2012" and mine.author_national_id == doctor.national_id
    assert dmp_open(actor=doctor, entry=mine) == bytes(vsm.cda)

    dmp_set_visibility(actor=doctor, entry=mine, masked_ps=True, invisible_patient=False, invisible_legal_reps=False)
    mine.refresh_from_db()
    assert mine.masked_ps
    vsm.refresh_from_db()
    assert vsm.dmp_hidden_from_ps

    dmp_archive(actor=doctor, entry=entries[letter.unique_id])
    assert DmpEntry.objects.get(unique_id=letter.unique_id).status == STATUS_ARCHIVED
    dmp_delete(actor=doctor, entry=mine)
    assert not DmpEntry.objects.filter(unique_id=vsm.unique_id).exists()
    # The next listing is incremental (only what was submitted since): nothing new.
    remaining = dmp_refresh(actor=doctor, patient=patient)
    assert vsm.unique_id not in {e.unique_id for e in remaining}


@pytest.mark.parametrize(("matricule", "reason"), [(CLOSED_INS, "fermé"), (NO_DMP_INS, "n'a pas de DMP")])
def test_closed_or_absent_dmp_is_rejected_with_a_reason(
    on_sandbox, practice, doctor, make_patient, matricule, reason
) -> None:  # type: ignore[no-untyped-def]
    patient = qualified(make_patient, matricule)
    document = store_n1(practice=practice, author=doctor, patient=patient)
    delivery = dmp_send_document(actor=doctor, document=document)
    run_worker(until_idle=True)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.REJECTED and reason in delivery.last_error
    access = dmp_check(actor=doctor, patient=patient)
    assert not access.may_consult
    dmp_consent_record(actor=doctor, patient=patient, feed_opposed=False, consult_consent=True)
    with pytest.raises(DmpServiceError, match=reason):
        dmp_refresh(actor=doctor, patient=patient)


def test_vsm_send_dmp_worker_dmp_list(on_sandbox, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    """The acceptance path: `vsm --ald --send-dmp`, `worker --until-idle`, `dmp list --ins … --json`."""
    qual = qualified(make_patient, FREE_INS)
    prov = make_patient(birth_name="PROVISOIRE", first_given_name="PAUL", sex="M", birth_date="01/01/1960")
    for patient in (qual, prov):
        patient.medecin_traitant = doctor
        patient.save(update_fields=["medecin_traitant"])
        Ald.objects.create(patient=patient, label="Diabète de type 2", cim10_codes="E11", start=dt.date(2020, 1, 1))
    out, err = StringIO(), StringIO()
    call_command("vsm", "--ald", "--send-dmp", stdout=out, stderr=err)
    assert "1 envoi(s) au DMP mis en file" in out.getvalue() and "PROVISOIRE PAUL" in err.getvalue()
    out = StringIO()
    call_command("worker", "--until-idle", stdout=out, stderr=StringIO())
    (delivery,) = Delivery.objects.all()
    assert delivery.state == Delivery.State.SENT, delivery.last_error
    out = StringIO()
    call_command("dmp", "list", "--ins", FREE_INS, "--json", stdout=out)
    listed = json.loads(out.getvalue())
    vsm = [d for d in listed if d["formatCode"] == "urn:asip:ci-sis:vsm:2012"]
    assert len(vsm) == 1 and vsm[0]["uniqueId"] == delivery.document_unique_id
    assert vsm[0]["authorNationalId"] == doctor.national_id
    assert "1690099991" in vsm[0]["authorInstitution"]
