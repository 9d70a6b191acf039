"""The work list of received documents (SC.MSS/UX.09–12, UX.15, LGC.MSS.01): one-click attach, rescoring.

- `worklist_attach`: the user picks the chart (usually the best candidate): the CDA kept in the message store is
  filed there, the choice traced (UX.37).
- `rescore_worklist`: candidates and scores recomputed when identities change (UX.15). Called by the identity
  services after a change (a plain function call, no signal). A document that now matches strictly a QUAL
  identity — R52's "already known here" case — is filed automatically, unless INSi said KO for its INS (R55).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.documents.models import Document
from caducee.documents.received import PatientTraits, ReceivedCdaError, read_cda_header
from caducee.mss import store
from caducee.mss.filing import InsCheck, Verification, decide, file_into
from caducee.mss.matching import candidates_for
from caducee.mss.models import ReceivedDocument
from caducee.patients.models import Patient


class WorklistError(Exception):
    """A refused work-list action; the message is for the user, in French."""


def _traits(received: ReceivedDocument) -> PatientTraits:
    fields = PatientTraits.__dataclass_fields__
    return PatientTraits(**{k: str(v) for k, v in received.patient_traits.items() if k in fields})


def worklist_attach(
    *, actor: Any, received: ReceivedDocument, patient: Patient, request: HttpRequest | None = None
) -> Document:
    """UX.10–12: file a work-list document into `patient`'s chart, by the user's choice."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    with transaction.atomic():
        received = ReceivedDocument.objects.select_for_update().select_related("message").get(pk=received.pk)
        if received.state != ReceivedDocument.State.WORKLIST:
            raise WorklistError("Ce document n'est plus dans la liste de travail.")
        try:
            cda = store.read_bytes(received.stored_path)
            header = read_cda_header(cda)
        except (OSError, ValueError, ReceivedCdaError) as exc:
            raise WorklistError(f"Document reçu illisible : {exc}") from exc
        file_into(
            received,
            patient=patient,
            cda=cda,
            header=header,
            pdf=store.document_pdf(received.stored_path),
            actor=actor,
            reason="Rattaché manuellement depuis la liste de travail.",
        )
        if received.state != ReceivedDocument.State.FILED or received.document is None:
            raise WorklistError(f"Rattachement impossible : {received.reason}")
        audit_record(
            actor=actor,
            action="mss.worklist_attach",
            object_type="received_document",
            object_id=received.pk,
            patient_id=patient.pk,
            detail={
                "uniqueId": received.unique_id,
                "score": next((c["score"] for c in received.candidates if c.get("patient") == patient.pk), 0),
            },
            request=request,
        )
        return received.document


def rescore_worklist(*, patient_ids: set[int] | None = None) -> int:
    """UX.15: recompute the candidates of every work-list document; returns how many were filed automatically.

    `patient_ids` (the patients whose identity changed) is a hint only: every waiting document is rescored, since
    a changed identity may become — or stop being — a candidate of any of them.
    """
    del patient_ids
    filed = 0
    waiting = ReceivedDocument.objects.filter(state=ReceivedDocument.State.WORKLIST).select_related("message")
    for received in waiting.iterator(chunk_size=200):
        traits = _traits(received)
        candidates = candidates_for(traits)
        earlier = received.patient_traits.get("insi", {}).get("statut", "")
        received.candidates = [c.as_json() for c in candidates]
        received.best_score = candidates[0].score if candidates else 0
        strict = [c for c in candidates if c.strict]
        # R55: an INS INSi refused is never filed automatically, even if a chart now matches it.
        if len(strict) == 1 and earlier != InsCheck.KO and received.stored_path:
            decision = decide(candidates, Verification(InsCheck.NOT_NEEDED))
            patient = Patient.objects.filter(pk=decision.file_into or 0).first()
            if patient is not None:
                try:
                    cda = store.read_bytes(received.stored_path)
                    header = read_cda_header(cda)
                except (OSError, ValueError, ReceivedCdaError):
                    header = None
                if header is not None:
                    with transaction.atomic():
                        file_into(
                            received,
                            patient=patient,
                            cda=cda,
                            header=header,
                            pdf=store.document_pdf(received.stored_path),
                            reason=decision.reason + " (après mise à jour de l'identité)",
                        )
                    if received.state == ReceivedDocument.State.FILED:
                        filed += 1
                        continue
        received.save(update_fields=["candidates", "best_score"])
    return filed


def worklist_discard(*, actor: Any, received: ReceivedDocument, reason: str) -> None:
    """Put a work-list document aside (not for this practice…), traced; the message stays."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    if received.state != ReceivedDocument.State.WORKLIST:
        raise WorklistError("Ce document n'est plus dans la liste de travail.")
    received.state = ReceivedDocument.State.QUARANTINED
    received.reason = f"Écarté par l'utilisateur : {reason}"[:1000]
    received.resolved_by, received.resolved_at = actor, timezone.now()
    received.save(update_fields=["state", "reason", "resolved_by", "resolved_at"])
    audit_record(
        actor=actor,
        action="mss.worklist_discard",
        object_type="received_document",
        object_id=received.pk,
        detail={"uniqueId": received.unique_id, "raison": reason[:200]},
    )
