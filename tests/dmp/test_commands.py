"""`caducee vsm --ald --send-dmp`, `caducee worker`, `caducee dmp list|check` on a small practice with the FakeDmp
(the acceptance path of issue 4 without seed-demo's weight; the real sandbox runs in test_dmp_sandbox_flow)."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from caducee.core.models import AuditEvent, Delivery
from caducee.core.outbox import run_worker
from caducee.dmp.api import DmpIdentity, DmpUnavailable
from caducee.dmp.models import DmpAccess, DmpConsent
from caducee.documents.models import Document
from caducee.patients.models import Ald
from tests.dmp.fake_dmp import (
    DOCTOR_NATIONAL_ID,
    INS_CX,
    MATCHING_IDENTITY,
    FakeDmp,
    fake_dmp,  # noqa: F401 — fixture
)
from tests.documents.cda_records import TEST_INS, qualify

pytestmark = pytest.mark.django_db


@pytest.fixture
def dmp(fake_dmp: FakeDmp) -> FakeDmp:  # noqa: F811
    fake_dmp.add_patient(INS_CX, identity=MATCHING_IDENTITY)
    return fake_dmp


@pytest.fixture
def ald_practice(practice, doctor, make_patient, settings):  # type: ignore[no-untyped-def]
    """Two ALD patients of the doctor: one QUAL (test INS), one with a provisional identity."""
    settings.SANDBOX = True
    qual = qualify(make_patient())
    prov = make_patient(birth_name="PROVISOIRE", first_given_name="PAUL", sex="M", birth_date="01/01/1960")
    for patient in (qual, prov):
        patient.medecin_traitant = doctor
        patient.save(update_fields=["medecin_traitant"])
        Ald.objects.create(patient=patient, label="Diabète de type 2", cim10_codes="E11", start=dt.date(2020, 1, 1))
    return qual, prov


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_vsm_send_dmp_then_worker_then_dmp_list(ald_practice, doctor, dmp) -> None:  # type: ignore[no-untyped-def]
    qual, prov = ald_practice
    out, err = run("vsm", "--ald", "--send-dmp")
    assert "2 VSM enregistré(s)" in out and "1 envoi(s) au DMP mis en file" in out
    assert "1 patient(s) sans envoi au DMP" in out
    assert f"Patient {prov.pk} (PROVISOIRE PAUL) : synthèse enregistrée, rien envoyé au DMP" in err
    assert "qualifiée" in err
    assert Document.objects.filter(model="vsm").count() == 2
    (delivery,) = Delivery.objects.all()
    assert delivery.patient_id == qual.pk and delivery.channel == "dmp"

    assert run_worker(until_idle=True).sent == 1

    out, _ = run("dmp", "list", "--ins", TEST_INS, "--json")
    (listed,) = json.loads(out)
    assert listed["formatCode"] == "urn:asip:ci-sis:vsm:2012"
    assert listed["uniqueId"] == delivery.document_unique_id
    assert listed["author"].startswith(DOCTOR_NATIONAL_ID + "^")
    assert "1690099991" in listed["authorInstitution"]  # the practice (1 + FINESS)
    assert listed["status"] == "Approved" and listed["typeCode"] == "SYNTH" and listed["classCode"] == "11"
    assert set(listed) >= {"entryUUID", "title", "creationTime", "confidentiality", "authorInstitution"}
    # TD0.2 first; no authorization yet and no local refusal: TD0.3, then FindDocuments.
    assert dmp.methods()[-3:] == ["test_existence", "set_authorization", "find_documents"]
    assert {"dmp.check", "dmp.authorization", "dmp.list"} <= set(
        AuditEvent.objects.filter(patient_id=qual.pk).values_list("action", flat=True)
    )

    # Twice: a new version, RPLC of the first one; the listing shows the current one only.
    run("vsm", "--ald", "--send-dmp")
    run_worker(until_idle=True)
    out, _ = run("dmp", "list", "--ins", TEST_INS, "--json")
    (current,) = json.loads(out)
    assert current["uniqueId"] != listed["uniqueId"]


def test_vsm_needs_an_output(ald_practice) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="--out-dir"):
        run("vsm", "--ald")


def test_vsm_send_dmp_respects_the_opposition(ald_practice, doctor, dmp) -> None:  # type: ignore[no-untyped-def]
    qual, _ = ald_practice
    DmpConsent.objects.create(patient=qual, feed_opposed=True)
    out, err = run("vsm", "--ald", "--send-dmp")
    assert "0 envoi(s) au DMP" in out and "opposé" in err
    assert not Delivery.objects.exists()


def test_vsm_send_dmp_writes_files_when_asked(ald_practice, dmp, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run("vsm", "--ald", "--send-dmp", "--out-dir", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{d.unique_id}.xml" for d in Document.objects.filter(model="vsm")
    )


def test_dmp_check(ald_practice, dmp) -> None:  # type: ignore[no-untyped-def]
    qual, _ = ald_practice
    out, _ = run("dmp", "check", "--ins", TEST_INS, "--json")
    data = json.loads(out)
    assert (data["exists"], data["active"], data["authorization"]) == (True, True, "ABSENTE")
    assert data["identityDivergence"] == ""
    assert DmpAccess.objects.get(patient=qual).exists
    dmp.patients[INS_CX].identity = DmpIdentity(birth_name="AUTRE", given="DOMINIQUE", sex="F", birth_date="19970226")
    out, _ = run("dmp", "check", "--ins", TEST_INS)
    assert "DMP ouvert" in out and "nom de naissance" in out and "AUTRE" not in out


def test_dmp_command_errors_are_french_and_fail(ald_practice, doctor, secretary, dmp) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="Aucun patient"):
        run("dmp", "list", "--ins", "1234567890123")
    prov = ald_practice[1]
    prov.identity.ins_matricule = "160019912345678"
    prov.identity.save()
    with pytest.raises(CommandError, match="n'est pas qualifiée"):
        run("dmp", "list", "--ins", "160019912345678")
    with pytest.raises(CommandError, match="introuvable"):
        run("dmp", "list", "--ins", TEST_INS, "--user", "personne")
    with pytest.raises(CommandError, match="non autorisée pour ce profil"):  # a secretary reads no DMP
        run("dmp", "list", "--ins", TEST_INS, "--user", secretary.username)
    dmp.fail("test_existence", DmpUnavailable("Le service DMP ne répond pas."))
    with pytest.raises(CommandError, match="ne répond pas"):
        run("dmp", "list", "--ins", TEST_INS)
    dmp.patients.pop(INS_CX)
    with pytest.raises(CommandError, match="n'a pas de DMP"):
        run("dmp", "list", "--ins", TEST_INS)


def test_dmp_list_respects_a_local_refusal(ald_practice, dmp) -> None:  # type: ignore[no-untyped-def]
    qual, _ = ald_practice
    DmpConsent.objects.create(patient=qual, consult_consent=False)
    with pytest.raises(CommandError, match="consentement"):
        run("dmp", "list", "--ins", TEST_INS)
    assert "find_documents" not in dmp.methods()


def test_dmp_list_as_text_and_check_without_dmp(ald_practice, doctor, dmp) -> None:  # type: ignore[no-untyped-def]
    qual, _ = ald_practice
    dmp.seed_document(INS_CX, unique_id="1.2.250.1.1^1", title="CR d'hospitalisation")
    out, _ = run("dmp", "list", "--ins", TEST_INS, "--user", doctor.username)
    assert "1 document(s) dans le DMP" in out and "CR d'hospitalisation" in out and "JEAN DUPONT" in out
    dmp.patients.pop(INS_CX)
    out, _ = run("dmp", "check", "--ins", TEST_INS)
    assert out.strip() == "Le patient n'a pas de DMP."
    assert not DmpAccess.objects.get(patient=qual).exists


def test_vsm_send_dmp_for_one_patient(ald_practice, dmp) -> None:  # type: ignore[no-untyped-def]
    qual, _ = ald_practice
    out, _ = run("vsm", "--patient", str(qual.pk), "--send-dmp")
    assert "1 VSM enregistré(s), 1 envoi(s) au DMP" in out
    assert Delivery.objects.get().patient_id == qual.pk
