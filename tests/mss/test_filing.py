"""INS rules before automatic filing, against the real INSi sandbox (R52 call, R53 trace, R55 KO → work list), the
filing decision, and the work list: one-click attach and rescoring when identities change (UX.07–15)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from caducee.core.models import AuditEvent
from caducee.core.oids import OID_INS_NIR
from caducee.documents.models import Document
from caducee.documents.received import PatientTraits
from caducee.identity.models import InsiCall, Status
from caducee.mss.filing import InsCheck, Verification, decide, ins_verify
from caducee.mss.intake import ingest_bytes
from caducee.mss.matching import Candidate
from caducee.mss.models import ReceivedDocument
from caducee.mss.worklist import COMMIT_MARGIN, WorklistError, rescore_worklist, worklist_attach
from tests.documents.cda_records import qualify
from tests.mss import hostile

pytestmark = pytest.mark.django_db

# The INSi sandbox persona ADRTROIS DOMINIQUE (CNDA test identity, reference/ins/test_identities_insi.csv).
DOMINIQUE = PatientTraits(
    ins_matricule="297022A02077878",
    ins_oid=OID_INS_NIR,
    birth_name="ADRTROIS",
    first_given_name="DOMINIQUE",
    given_names="DOMINIQUE",
    birth_date="1997-02-26",
    sex="F",
)


@pytest.fixture
def data_dir(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.SANDBOX = True
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return tmp_path


def _dominique(make_patient, status: str = Status.QUAL):  # type: ignore[no-untyped-def]
    patient = make_patient()  # ADRTROIS DOMINIQUE 26/02/1997 F
    identity = patient.identity
    identity.status, identity.ins_matricule, identity.ins_oid = status, DOMINIQUE.ins_matricule, OID_INS_NIR
    identity.save()
    return patient


def test_r52_no_call_when_the_ins_is_known_here_as_qual(insi_sandbox, make_patient) -> None:  # type: ignore[no-untyped-def]
    _dominique(make_patient)
    since = len(insi_sandbox.insi.requests)
    assert ins_verify(traits=DOMINIQUE).status == InsCheck.NOT_NEEDED
    assert len(insi_sandbox.insi.requests) == since and not InsiCall.objects.exists()


def test_r52_r53_call_traced_and_ok_when_insi_confirms(insi_sandbox, make_patient) -> None:  # type: ignore[no-untyped-def]
    _dominique(make_patient, Status.VALI)  # not QUAL/RECUP here: R52 asks INSi
    since = len(insi_sandbox.insi.requests)
    check = ins_verify(traits=DOMINIQUE)
    assert check.status == InsCheck.OK, check.reason
    assert len(insi_sandbox.insi.requests) == since + 1
    call = InsiCall.objects.get(pk=check.call_id)  # R53: the call and its answer are kept
    assert call.outcome == InsiCall.Outcome.FOUND and "<CodeCR>00</CodeCR>" in call.response_xml
    assert AuditEvent.objects.filter(action="insi.traits", object_id=str(call.pk)).exists()


def test_r55_ko_when_insi_returns_another_matricule(insi_sandbox) -> None:  # type: ignore[no-untyped-def]
    forged = PatientTraits(**{**DOMINIQUE.as_dict(), "ins_matricule": "297022A02012345"})
    check = ins_verify(traits=forged)
    assert check.status == InsCheck.KO and "règle 55" in check.reason and "matricule INS" in check.reason


def test_r55_ko_when_insi_knows_nobody(insi_sandbox) -> None:  # type: ignore[no-untyped-def]
    nobody = PatientTraits(**{**DOMINIQUE.as_dict(), "birth_name": "PERSONNEINCONNUE"})
    check = ins_verify(traits=nobody)
    assert check.status == InsCheck.KO and "aucune identité trouvée" in check.reason


def test_always_mode_checks_even_a_strict_match_and_ko_blocks_filing(
    insi_sandbox, settings, practice, doctor, make_patient
) -> None:  # type: ignore[no-untyped-def]
    settings.MSS_INSI_VERIFY = "always"  # (the message store is then under the sandbox's DATA_DIR)
    patient = qualify(make_patient())  # a test INS INSi does not know: KO
    received = ingest_bytes(hostile.xdm_of(hostile.vsm_cda(practice, doctor, patient)), source="import")
    (doc,) = received.documents.all()
    assert doc.state == ReceivedDocument.State.WORKLIST and "règle 55" in doc.reason
    assert doc.candidates[0]["strict"] and doc.candidates[0]["patient"] == patient.pk
    # R55: even when rescored, an INS INSi refused is never filed automatically.
    assert rescore_worklist() == 0
    doc.refresh_from_db()
    assert doc.state == ReceivedDocument.State.WORKLIST


def test_decision_table() -> None:
    strict = Candidate(1, 100, ("…",), True)
    near = Candidate(2, 80, ("…",), False)
    ok = Verification(InsCheck.NOT_NEEDED)
    assert decide([strict, near], ok).file_into == 1
    assert decide([strict, Candidate(3, 100, (), True)], ok).file_into is None  # two charts: a human decides
    assert decide([near], ok).file_into is None and "80" in decide([near], ok).reason
    assert decide([strict], Verification(InsCheck.KO, "KO")).reason == "KO"
    assert decide([strict], Verification(InsCheck.UNAVAILABLE, "INSi down")).file_into is None
    assert decide([], Verification(InsCheck.NO_INS)).file_into is None


# --- the work list --------------------------------------------------------------------------------------------------


def test_attach_from_the_work_list_in_one_click(data_dir, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    cda = hostile.vsm_cda(practice, doctor, patient)
    raw = hostile.mail(
        attachments=[
            ("IHE_XDM.zip", hostile.xdm_of(cda, with_ins=False), "application/zip"),
            ("synthese.pdf", hostile.PDF, "application/pdf"),
        ]
    )
    (received,) = ingest_bytes(raw).documents.all()
    assert received.state == ReceivedDocument.State.WORKLIST
    document = worklist_attach(actor=doctor, received=received, patient=patient)
    received.refresh_from_db()
    assert received.state == ReceivedDocument.State.FILED and received.resolved_by == doctor
    assert document.patient == patient and bytes(document.cda) == cda and bytes(document.pdf) == hostile.PDF
    assert document.state == Document.State.RECEIVED and document.correspondent == "Dr Anne LEROY"
    assert AuditEvent.objects.filter(action="mss.worklist_attach", patient_id=patient.pk).exists()
    with pytest.raises(WorklistError):
        worklist_attach(actor=doctor, received=received, patient=patient)


def test_a_secretary_cannot_attach(data_dir, practice, doctor, secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    from django.core.exceptions import PermissionDenied

    patient = make_patient()
    cda = hostile.vsm_cda(practice, doctor, patient)
    (received,) = ingest_bytes(hostile.xdm_of(cda, with_ins=False), source="import").documents.all()
    with pytest.raises(PermissionDenied):
        worklist_attach(actor=secretary, received=received, patient=patient)


def test_rescoring_files_once_the_identity_is_qualified(data_dir, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = qualify(make_patient())
    cda = hostile.vsm_cda(practice, doctor, patient)  # carries the INS
    identity = patient.identity
    identity.status = Status.VALI  # not yet qualified here; INSi unreachable (no sandbox.json): work list
    identity.save()
    (received,) = ingest_bytes(hostile.xdm_of(cda), source="import").documents.all()
    assert received.state == ReceivedDocument.State.WORKLIST and received.best_score == 99
    identity.status = Status.QUAL  # the identity is qualified (R20), stamped as every identity service does
    identity.updated_at = timezone.now()
    identity.save()
    assert rescore_worklist() == 1  # what each sync pass and the work-list screen run
    received.refresh_from_db()
    assert received.state == ReceivedDocument.State.FILED and received.patient == patient
    assert received.candidates[0]["score"] == 100 and received.document.patient == patient


def test_rescoring_updates_scores_when_a_new_patient_appears(data_dir, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    somebody = make_patient()
    cda = hostile.vsm_cda(practice, doctor, somebody)
    (received,) = ingest_bytes(hostile.xdm_of(cda, with_ins=False), source="import").documents.all()
    assert [c["patient"] for c in received.candidates] == [somebody.pk]
    twin = make_patient(first_given_name="DOMINIQUE-ANNE")
    assert rescore_worklist() == 0
    received.refresh_from_db()
    assert {c["patient"] for c in received.candidates} == {somebody.pk, twin.pk}
    assert received.candidates[0]["patient"] == somebody.pk


def _vsm_without_ins(practice, doctor, patient) -> bytes:  # type: ignore[no-untyped-def]
    return hostile.xdm_of(hostile.vsm_cda(practice, doctor, patient), with_ins=False)


def _scored_long_after_the_last_change(received: ReceivedDocument) -> None:
    """As if the identities last changed an hour ago and the document was scored since: nothing to rescore."""
    from caducee.identity.models import Identity

    an_hour_ago = timezone.now() - timedelta(hours=1)
    Identity.objects.update(updated_at=an_hour_ago)
    ReceivedDocument.objects.filter(pk=received.pk).update(candidates=[], best_score=0, scored_at=an_hour_ago)


def test_rescoring_pulls_only_what_changed_since_the_scoring(
    data_dir, practice, doctor, secretary, make_patient, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    """UX.15 as a pull: a document scored after the latest identity change is left alone (one query, nothing
    rewritten); once an identity service writes an identity, it is scored again."""
    from caducee.identity.services import identity_set_attributes

    patient = make_patient()
    (received,) = ingest_bytes(_vsm_without_ins(practice, doctor, patient)).documents.all()
    assert received.scored_at is not None and received.candidates
    _scored_long_after_the_last_change(received)
    with django_assert_max_num_queries(2):
        assert rescore_worklist() == 0
    received.refresh_from_db()
    assert received.candidates == []  # not rescored: no identity changed since
    identity = patient.identity
    identity_set_attributes(
        actor=secretary, identity=identity, version=identity.version, doubtful=False, fictitious=False
    )
    assert rescore_worklist() == 0
    received.refresh_from_db()
    assert received.candidates and received.candidates[0]["patient"] == patient.pk and received.best_score > 0
    assert received.scored_at is not None and received.scored_at <= identity.updated_at
    # `caducee mss rescore` recomputes every waiting document, changed or not.
    _scored_long_after_the_last_change(received)
    assert rescore_worklist(every_document=True) == 0
    received.refresh_from_db()
    assert received.candidates


def test_a_change_committed_after_a_scoring_is_not_missed(data_dir, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    """The mark stays COMMIT_MARGIN behind the scoring: an identity write stamped just before a scoring but committed
    after it (invisible then) is still newer than the document's mark, so the next rescoring picks it up."""
    from caducee.identity.models import Identity

    patient = make_patient()
    other = make_patient(birth_name="AUTRE", first_given_name="PERSONNE", birth_date="01/01/1950")
    (received,) = ingest_bytes(_vsm_without_ins(practice, doctor, patient)).documents.all()
    now = timezone.now()
    Identity.objects.update(updated_at=now - timedelta(hours=1))
    Identity.objects.filter(pk=other.identity_id).update(updated_at=now - timedelta(seconds=1))  # visible, latest
    ReceivedDocument.objects.filter(pk=received.pk).update(scored_at=None)
    rescore_worklist()  # scores the document; the patient's write below is not committed yet
    received.refresh_from_db()
    # Its mark is COMMIT_MARGIN behind the scoring, not the latest change it saw (1 s ago).
    assert received.scored_at is not None and received.scored_at < now - COMMIT_MARGIN + timedelta(seconds=1)
    ReceivedDocument.objects.filter(pk=received.pk).update(candidates=[], best_score=0)
    # The patient's identity write, stamped 2 s before that scoring, commits now: older than the latest change seen
    # by the scoring (1 s), newer than the document's mark.
    Identity.objects.filter(pk=patient.identity_id).update(updated_at=now - timedelta(seconds=2))
    rescore_worklist()
    received.refresh_from_db()
    assert received.candidates and received.candidates[0]["patient"] == patient.pk
