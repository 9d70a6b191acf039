"""The outbox handler of the "dmp" channel: publish one stored document in the patient's DMP (TD2.1 / TD2.2).

Registered at import (`DmpConfig.ready` imports this module). Contract: caducee.core.outbox.

At send time, not only at enqueue time, because the situation may have changed while the delivery waited:
* R28: the identity must still be QUAL (`transmissible_ins`); SC.DMP/CONF.06: the patient must not have objected
  since → PermanentDeliveryError (retrying cannot help until someone changes the record);
* SC.DMP/CONF.01: TD0.2 before any feed; no DMP or a closed DMP → PermanentDeliveryError with a French reason; no
  authorization is needed to feed (CONF.05), so EXPIREE/ABSENTE do not stop it;
* a new version (`Document.replaces`) is sent with RPLC to the entryUUID of the replaced document, resolved now
  with TD3.1b (`find_by_unique_id`, which needs an authorization: see `_replaced_entry`): only an Approved entry
  can be replaced; when the replaced document is not in the DMP (never sent, deleted, already replaced) or cannot
  be looked up, the new one is published as a first version.

Idempotent by construction: the XDS metadata are recomputed from the stored CDA bytes (same uniqueId, same hash),
and the DMP treats a uniqueId already registered with the same hash as a success (`already_registered`). The
submission set gets a fresh uniqueId at each attempt (practice root + ".3." + sequence): it identifies the lot, not
the document.

Client errors: DmpUnavailable and DmpInvalidResponse → TransientDeliveryError (retry with back-off), DmpRejected →
PermanentDeliveryError (the reason is shown on the delivery).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from caducee.accounts.models import User
from caducee.core.audit import audit_record
from caducee.core.dates import french_date
from caducee.core.models import AuditEvent, Delivery
from caducee.core.outbox import PermanentDeliveryError, TransientDeliveryError, register_handler
from caducee.dmp.api import (
    STATUS_APPROVED,
    DmpApi,
    DmpCaller,
    DmpError,
    DmpRejected,
)
from caducee.dmp.selectors import dmp_caller_for, dmp_document_feed_refusal, dmp_patient_ins, dmp_practice
from caducee.documents import xds_codes as codes
from caducee.documents.cda.header import practice_oid_root
from caducee.documents.models import Document
from caducee.documents.selectors import document_by_unique_id
from caducee.documents.xds import SubmissionInfo, XdsMetadataError, xds_metadata

CHANNEL = "dmp"


def _transport_error(exc: DmpError) -> Exception:
    message = str(exc) or "Le service DMP n'a pas répondu correctement."
    if isinstance(exc, DmpRejected):
        return PermanentDeliveryError(message)
    return TransientDeliveryError(message)


def _audit(author: Any, document: Document, outcome: str, **detail: Any) -> None:
    audit_record(
        actor=author,
        action="dmp.feed",
        object_type="document",
        object_id=document.pk,
        patient_id=document.patient_id,
        outcome=outcome,
        detail={"uniqueId": document.unique_id, **detail},
    )


def send_dmp_delivery(delivery: Delivery, key: str) -> dict[str, Any]:
    """Publish the document the delivery carries (see the module docstring); returns the result stored on it."""
    from caducee.dmp import services  # services imports the outbox: import here, not at module load

    del key  # the DMP deduplicates on the document uniqueId, which the metadata carry unchanged
    document = document_by_unique_id(  # the delivery keeps the uniqueId (core links to nothing above it)
        delivery.document_ref, queryset=Document.objects.select_related("patient__identity", "author", "replaces")
    )
    if document is None:
        raise PermanentDeliveryError("Cet envoi ne porte sur aucun document enregistré.")
    patient = document.patient
    # The same rule as the panel and the service, checked again at send time (R28, SC.DMP/CONF.06).
    refusal = dmp_document_feed_refusal(document)
    if refusal:
        raise PermanentDeliveryError(refusal)
    try:
        ins = dmp_patient_ins(patient)
    except services.DmpServiceError as exc:
        raise PermanentDeliveryError(str(exc)) from exc
    author: User | None = document.author
    if author is None:
        actor_id = (delivery.payload or {}).get("actor_id")
        author = User.objects.filter(pk=actor_id).first() if actor_id else None
    if author is None:
        raise PermanentDeliveryError("Le document n'a pas d'auteur : il ne peut pas être envoyé au DMP.")
    try:
        practice = dmp_practice()
        caller = dmp_caller_for(author, practice=practice)
        api = services._api()
    except services.DmpUnconfigured as exc:
        raise TransientDeliveryError(str(exc)) from exc
    except services.DmpServiceError as exc:
        raise PermanentDeliveryError(str(exc)) from exc

    try:
        status = api.test_existence(caller, ins)  # CONF.01
    except DmpError as exc:
        _audit(author, document, AuditEvent.Outcome.ERROR, step="TD0.2", error=str(exc))
        raise _transport_error(exc) from exc
    services.dmp_access_store(patient=patient, professional=author, status=status)  # the author's own answer
    if not status.exists:
        reason = (
            "Le patient n'a pas de DMP (il s'est opposé à sa création ou ne l'a jamais ouvert) : document non envoyé."
        )
        _audit(author, document, AuditEvent.Outcome.REFUSED, reason=reason)
        raise PermanentDeliveryError(reason)
    if not status.active:
        closed = f" le {french_date(status.closed_on)}" if status.closed_on else ""
        reason = f"Le DMP du patient est fermé{closed} : document non envoyé."
        _audit(author, document, AuditEvent.Outcome.REFUSED, reason=reason)
        raise PermanentDeliveryError(reason)

    root = practice_oid_root(practice)
    submission = SubmissionInfo(
        # Unique per attempt without a sequence: a delivery's pk and its claim count (each claim increments it).
        unique_id=f"{root}.3.{delivery.pk}.{delivery.attempts}",
        source_id=root,
        submission_time=timezone.now(),
        content_type=codes.CONTENT_TYPE_CONSULTATION,
        title=document.title[:200],
    )
    visibility = [str(v) for v in (delivery.payload or {}).get("visibility", [])]
    pdf = bytes(document.pdf) if document.model == "n1" and document.pdf is not None else None
    try:
        entry = xds_metadata(bytes(document.cda), pdf=pdf, submission=submission, visibility=visibility)
    except XdsMetadataError as exc:
        reason = f"Document non conforme pour le DMP : {exc}"
        _audit(author, document, AuditEvent.Outcome.REFUSED, reason=reason)
        raise PermanentDeliveryError(reason) from exc

    replaces: str | None = None
    unresolved = ""
    try:
        if document.replaces is not None:
            replaces, unresolved = _replaced_entry(api, caller, ins, document.replaces.unique_id)
        result = api.provide_and_register(caller, [entry], submission, replaces=replaces)
    except DmpError as exc:
        _audit(author, document, AuditEvent.Outcome.ERROR, step="TD2", error=str(exc))
        raise _transport_error(exc) from exc
    _audit(
        author,
        document,
        AuditEvent.Outcome.OK,
        submission_set=result.submission_set_unique_id,
        already_registered=result.already_registered,
        replaces=replaces or "",
        replacement_unresolved=unresolved,
    )
    return {
        "submission_set_unique_id": result.submission_set_unique_id,
        "document_unique_ids": list(result.document_unique_ids),
        "already_registered": result.already_registered,
        "replaces_entry_uuid": replaces or "",
        "replacement_unresolved": unresolved,
    }


def _replaced_entry(api: DmpApi, caller: DmpCaller, ins: str, unique_id: str) -> tuple[str | None, str]:
    """The entryUUID to replace (RPLC), or None with the reason it could not be resolved.

    TD3.1b (notes §1.2): an LPS finds the entryUUID of a document it fed from its uniqueId, without a consultation
    authorization (CONF.05: feeding needs none). When the DMP refuses the query, the new version is published as
    a first version — never held back — and the reason is kept on the delivery. DmpUnavailable /
    DmpInvalidResponse propagate (transient)."""
    try:
        previous = api.find_by_unique_id(caller, ins, unique_id)
    except DmpRejected as exc:
        return None, f"remplacement non lié : {exc}"
    if previous is None or previous.status != STATUS_APPROVED:
        return None, ""
    return previous.entry_uuid, ""


register_handler(CHANNEL, send_dmp_delivery)
