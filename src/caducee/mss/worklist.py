"""The work list of received documents (SC.MSS/UX.09–12, UX.15, LGC.MSS.01): one-click attach, rescoring.

- `worklist_attach`: the user picks the chart (usually the best candidate): the CDA kept in the message store is
  filed there, the choice traced (UX.37).
- `rescore_worklist`: candidates and scores recomputed when identities change (UX.15). A pull, not a push: the
  identity services only stamp `Identity.updated_at`; each waiting document remembers up to when identity changes
  are in its score (`ReceivedDocument.scored_at`), and the MSSanté sync loop (each pass of `caducee mss sync`) and
  the work-list screen (before it lists) rescore the documents scored before the latest identity change. A
  document that now matches strictly a QUAL identity — R52's "already known here" case — is filed automatically,
  unless INSi said KO for its INS (R55).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.core.batches import in_chunks
from caducee.documents.models import Document
from caducee.documents.received import PatientTraits, ReceivedCdaError, read_cda_header
from caducee.identity.models import Identity
from caducee.mss import store
from caducee.mss.filing import InsCheck, Verification, decide, received_file
from caducee.mss.matching import candidates_for
from caducee.mss.models import ReceivedDocument
from caducee.patients.models import Patient

# An identity write stamps `updated_at` inside its transaction, before it commits; a scoring done meanwhile does not
# see it yet. So a document's mark is kept this much behind the scoring: a change committed up to 5 s after it was
# stamped (or stamped by a clock up to 5 s behind) is still seen as newer than the mark, and rescored.
COMMIT_MARGIN = timedelta(seconds=5)


class WorklistError(Exception):
    """A refused work-list action; the message is for the user, in French."""


def _latest_identity_change() -> datetime | None:
    """When an identity last changed (created, edited, qualified…): one read of the `identity_updated` index."""
    latest: datetime | None = Identity.objects.aggregate(latest=Max("updated_at"))["latest"]
    return latest


def scoring_mark(latest: datetime | None = None) -> datetime:
    """The `scored_at` of a document scored now (`latest`: the latest identity change, read *before* the identities
    are): every identity change up to it is in the score, so only a later one makes the document worth scoring again."""
    if latest is None:
        latest = _latest_identity_change()
    behind = timezone.now() - COMMIT_MARGIN
    return min(latest, behind) if latest is not None else behind


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
        received_file(
            received=received,
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


def rescore_worklist(*, every_document: bool = False) -> int:
    """UX.15: recompute the candidates of the work-list documents scored before the latest identity change (all of
    them with `every_document`, `caducee mss rescore`); returns how many were filed automatically.

    Every such document is rescored, not only those naming the changed identity: a changed identity may become — or
    stop being — a candidate of any of them. Nothing changed since the last scoring: one query, nothing rewritten.
    """
    latest = _latest_identity_change()
    mark = scoring_mark(latest)
    waiting = ReceivedDocument.objects.filter(state=ReceivedDocument.State.WORKLIST)
    if not every_document:
        stale = Q(scored_at__isnull=True)
        if latest is not None:
            stale |= Q(scored_at__lt=latest)
        waiting = waiting.filter(stale)
    filed = 0
    # In chunks read whole, not through an open cursor: the loop writes as it reads (issue 13 §4, core.batches).
    for received in in_chunks(waiting.select_related("message")):
        traits = _traits(received)
        candidates = candidates_for(traits)
        earlier = received.patient_traits.get("insi", {}).get("statut", "")
        received.candidates = [c.as_json() for c in candidates]
        received.best_score = candidates[0].score if candidates else 0
        received.scored_at = mark
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
                        if (
                            not ReceivedDocument.objects.select_for_update()
                            .filter(pk=received.pk, state=ReceivedDocument.State.WORKLIST)
                            .exists()
                        ):
                            continue  # attached by a user, or filed by another rescoring (screen and loop) meanwhile
                        received_file(
                            received=received,
                            patient=patient,
                            cda=cda,
                            header=header,
                            pdf=store.document_pdf(received.stored_path),
                            reason=decision.reason + " (après mise à jour de l'identité)",
                        )
                    if received.state == ReceivedDocument.State.FILED:
                        filed += 1
                        continue
        received.save(update_fields=["candidates", "best_score", "scored_at"])
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
