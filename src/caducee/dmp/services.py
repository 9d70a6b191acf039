"""DMP services: the rules of SC.DMP around the client (issue 4 §4).

Sources: the Ségur DMP requirements in ../shared/reference/requirements (SC.DMP/CONF.01–02 TD0.2 before any feed
or consultation and identity divergences traced, CONF.05 no authorization needed to feed, CONF.06/09 the patient's
non-opposition recorded locally, UX.05/UX.50 TD0.3 set and renewed, UX.14 first search limited to two years then
only the new documents, UX.36 deduplication by uniqueId, HISTO.01 "déjà envoyé au DMP"), the DMPi transactions of
../shared/reference/dmp_mss/pdsm4dmp_eeds (exemples_usage_dmp.md for the incremental search) and R28 (only a QUAL
identity's INS leaves the system: `identity.ins.transmissible_ins`, the single gate).

The client is only ever obtained through `caducee.dmp.client.dmp_client()` (`_api`), looked up on the module so tests
can substitute it. Every DMP call and every consent change is audited with the patient. Consultation needs
CLINICAL_READ, sending and changing need CLINICAL_WRITE: a refused profile gets PermissionDenied before anything
is read or written.

Feeding is asynchronous (the outbox, `dmp_send_document` → `handler.send_dmp_delivery`); consultation and the
document management calls (open, visibility, delete, archive) are synchronous and raise `DmpServiceError` with a
French message the screen shows as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import User
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.core.models import AuditEvent, Delivery
from caducee.core.outbox import delivery_enqueue
from caducee.dmp import client
from caducee.dmp.api import (
    AUTHORIZATION_ADD,
    STATUS_APPROVED,
    STATUS_ARCHIVED,
    STATUS_DELETED,
    STATUS_DEPRECATED,
    DmpApi,
    DmpCaller,
    DmpDocument,
    DmpError,
    DmpPatientStatus,
)
from caducee.dmp.divergence import divergence_text, identity_divergence
from caducee.dmp.errors import DmpServiceError, DmpUnconfigured
from caducee.dmp.metadata import author_label, institution_label, xds_datetime, xds_dtm
from caducee.dmp.models import DmpAccess, DmpConsent, DmpEntry
from caducee.dmp.selectors import dmp_caller_for, dmp_document_feed_refusal, dmp_patient_ins
from caducee.documents import xds_codes as codes
from caducee.documents.models import Document
from caducee.patients.models import Patient

CHANNEL = "dmp"
ACTION_PUBLISH = "publish"
# A TD0.2 answer is trusted this long before a consultation (a new one is asked otherwise: CONF.01).
CHECK_FRESHNESS = timedelta(minutes=5)
FIRST_SEARCH_YEARS = 2  # UX.14: the first automatic search covers two years of care
# The incremental search starts a little before the last one (clock skew between us and the DMP).
INCREMENTAL_OVERLAP = timedelta(minutes=5)
VISIBILITY_FLAGS = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")


# --- plumbing ---------------------------------------------------------------------------------------------------


def _api() -> DmpApi:
    """The DMPi client of the configured endpoint (`caducee.dmp.client.dmp_client()`, looked up on the module so a
    test may replace it). Only a missing configuration is a transient "not configured" error the outbox retries;
    anything else is a bug and fails loudly (issue 12 §5)."""
    try:
        return client.dmp_client()
    except ImproperlyConfigured as exc:  # settings missing, sandbox not running (SandboxNotRunning is one)
        raise DmpUnconfigured(str(exc) or "Le service DMP n'est pas configuré sur ce poste.") from exc


def _audit(
    actor: Any,
    action: str,
    patient: Patient | int | None,
    *,
    request: HttpRequest | None = None,
    outcome: str = AuditEvent.Outcome.OK,
    object_type: str = "dmp",
    object_id: object = "",
    **detail: Any,
) -> None:
    patient_id = patient.pk if isinstance(patient, Patient) else patient
    audit_record(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        outcome=outcome,
        detail=detail,
        request=request,
    )


def _audit_entry(actor: Any, action: str, entry: DmpEntry, request: HttpRequest | None, **detail: Any) -> None:
    """The audit record of an action on one DMP document of the chart's cache."""
    _audit(
        actor,
        action,
        entry.patient_id,
        request=request,
        object_type="dmp_entry",
        object_id=entry.pk,
        uniqueId=entry.unique_id,
        **detail,
    )


def _failed(actor: Any, action: str, patient: Patient, exc: DmpError, request: HttpRequest | None) -> DmpServiceError:
    """Audit a failed DMP call and turn it into the service error shown to the user."""
    _audit(actor, action, patient, request=request, outcome=AuditEvent.Outcome.ERROR, error=str(exc), code=exc.code)
    DmpAccess.objects.filter(patient=patient, professional=_professional(actor)).update(last_error=str(exc))
    return DmpServiceError(str(exc) or "Le service DMP n'a pas répondu correctement.")


# --- TD0.2 / TD0.3 ---------------------------------------------------------------------------------------------


def _professional(actor: Any) -> User | None:
    """The professional a DMP answer belongs to (issue 13 §3: access and cache per professional)."""
    return actor if isinstance(actor, User) and actor.pk is not None else None


def dmp_access_of(*, patient: Patient, professional: Any) -> DmpAccess | None:
    """This professional's own last TD0.2/TD0.3 answer for the patient (never a colleague's)."""
    pro = _professional(professional)
    if pro is None:
        return None
    return DmpAccess.objects.filter(patient=patient, professional=pro).first()


def _authorization_lapsed(status: DmpPatientStatus, today: dt.date) -> bool:
    if status.authorization in ("ABSENTE", "EXPIREE"):
        return True
    return (
        status.authorization == "VALIDE"
        and status.authorization_until is not None
        and (status.authorization_until < today)
    )


def dmp_access_store(
    *, patient: Patient, professional: Any, status: DmpPatientStatus, divergence: str | None = None
) -> DmpAccess:
    """Record a TD0.2/TD0.3 answer as the answer to THIS professional (the handler uses it too, for the author)."""
    pro = _professional(professional)
    fields: dict[str, Any] = {
        "checked_at": timezone.now(),
        "exists": status.exists,
        "active": status.active,
        "authorization": status.authorization,
        "authorization_until": status.authorization_until,
        "closed_on": status.closed_on,
        "closing_reason": status.closing_reason,
        "medecin_traitant": status.medecin_traitant,
        "mes_attached": status.mes_attached,
        "last_error": "",
    }
    if divergence is not None:
        fields["divergence"] = divergence
    # One UPDATE in the common case (the handler records every TD0.2); the row is created the first time only.
    if not DmpAccess.objects.filter(patient=patient, professional=pro).update(**fields):
        try:
            with transaction.atomic():
                return DmpAccess.objects.create(patient=patient, professional=pro, **fields)
        except IntegrityError:  # created meanwhile by another worker
            DmpAccess.objects.filter(patient=patient, professional=pro).update(**fields)
    return DmpAccess.objects.filter(patient=patient, professional=pro).order_by("-id").first()  # type: ignore[return-value]


def dmp_check(
    *, actor: Any, patient: Patient, request: HttpRequest | None = None, unless_refused: bool = False
) -> DmpAccess:
    """TD0.2 (SC.DMP/CONF.01): does the patient have an open DMP, may this professional consult it.

    Traces an identity divergence (CONF.02, audited; the text names the traits, not the DMP's values). When the
    patient consented to the consultation and the authorization is absent or lapsed, asks for it (TD0.3,
    UX.05/UX.50) and records the new status. A professional the patient blocked (INTERDITE) is never re-authorized.
    `unless_refused` (the command line, run by the professional who has just seen the patient): TD0.3 is asked
    unless a refusal of the consultation is recorded.
    """
    check_permission(actor, Perm.CLINICAL_READ)
    ins = dmp_patient_ins(patient)
    caller = dmp_caller_for(actor)
    api = _api()
    try:
        status = api.test_existence(caller, ins)
    except DmpError as exc:
        raise _failed(actor, "dmp.check", patient, exc, request) from exc
    traits = identity_divergence(patient.identity, status.identity) if status.exists else []
    access = dmp_access_store(patient=patient, professional=actor, status=status, divergence=divergence_text(traits))
    _audit(
        actor,
        "dmp.check",
        patient,
        request=request,
        exists=status.exists,
        active=status.active,
        authorization=status.authorization,
    )
    if traits:
        _audit(
            actor,
            "dmp.identity_divergence",
            patient,
            request=request,
            outcome=AuditEvent.Outcome.REFUSED,
            traits=traits,
        )
    consent = DmpConsent.objects.filter(patient=patient).first()
    wants = consent.consult_consent if consent is not None else unless_refused
    if wants and status.exists and status.active and _authorization_lapsed(status, timezone.localdate()):
        try:
            status = api.set_authorization(caller, ins, AUTHORIZATION_ADD)
        except DmpError as exc:
            raise _failed(actor, "dmp.authorization", patient, exc, request) from exc
        access = dmp_access_store(patient=patient, professional=actor, status=status)
        _audit(
            actor,
            "dmp.authorization",
            patient,
            request=request,
            authorization=status.authorization,
            until=status.authorization_until.isoformat() if status.authorization_until else "",
        )
    return access


def dmp_consent_record(
    *,
    actor: Any,
    patient: Patient,
    feed_opposed: bool,
    consult_consent: bool,
    request: HttpRequest | None = None,
) -> DmpConsent:
    """The patient's choices, recorded locally (SC.DMP/CONF.06 feed opposition, CONF.09 consultation consent)."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    with transaction.atomic():
        consent, _ = DmpConsent.objects.update_or_create(
            patient=patient,
            defaults={
                "feed_opposed": feed_opposed,
                "consult_consent": consult_consent,
                "recorded_by": actor,
                "recorded_at": timezone.now(),
            },
        )
        _audit(
            actor,
            "dmp.consent",
            patient,
            request=request,
            object_type="dmp_consent",
            object_id=consent.pk,
            feed_opposed=feed_opposed,
            consult_consent=consult_consent,
        )
    return consent


# --- feeding (asynchronous, through the outbox) -----------------------------------------------------------------


def _clean_visibility(visibility: Sequence[str]) -> list[str]:
    flags: list[str] = []
    for flag in visibility:
        if flag not in codes.VISIBILITY:
            raise DmpServiceError(f"Visibilité « {flag} » inconnue du DMP.")
        if flag not in flags:
            flags.append(flag)
    return flags


def dmp_delivery_enqueue(*, document: Document, visibility: Sequence[str], actor: Any) -> Delivery:
    """Enqueue the publication (inside the caller's transaction); the local visibility flags follow the choice."""
    flags = _clean_visibility(visibility)
    delivery = delivery_enqueue(
        channel=CHANNEL,
        action=ACTION_PUBLISH,
        document=document,
        payload={"visibility": flags, "actor_id": getattr(actor, "pk", None)},
    )
    wanted = {
        "dmp_hidden_from_ps": "MASQUE_PS" in flags,
        "dmp_invisible_patient": "INVISIBLE_PATIENT" in flags,
        "dmp_invisible_legal_reps": "INVISIBLE_REPRESENTANTS_LEGAUX" in flags,
    }
    changed = [name for name, value in wanted.items() if getattr(document, name) != value]
    if changed and delivery.payload.get("visibility") == flags:
        for name in changed:
            setattr(document, name, wanted[name])
        document.save(update_fields=changed)
    return delivery


def dmp_send_document(
    *,
    actor: Any,
    document: Document,
    visibility: Sequence[str] = (),
    request: HttpRequest | None = None,
) -> Delivery:
    """Queue the publication of a stored document in the patient's DMP (TD2.1; TD2.2 RPLC for a new version,
    resolved at send time by the handler). Idempotent on the document's uniqueId: a second call returns the same
    delivery. Refused (DmpServiceError, French reason) for a non-QUAL identity (R28), a patient who objected to
    the feed (CONF.06) or a model the DMP cannot take."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    reason = dmp_document_feed_refusal(document)
    if reason:
        _audit(
            actor,
            "dmp.send",
            document.patient_id,
            request=request,
            outcome=AuditEvent.Outcome.REFUSED,
            object_type="document",
            object_id=document.pk,
            reason=reason,
        )
        raise DmpServiceError(reason)
    with transaction.atomic():
        delivery = dmp_delivery_enqueue(document=document, visibility=visibility, actor=actor)
        _audit(
            actor,
            "dmp.send",
            document.patient_id,
            request=request,
            object_type="document",
            object_id=document.pk,
            uniqueId=document.unique_id,
            delivery=delivery.pk,
            visibility=list(delivery.payload.get("visibility", [])),
        )
    return delivery


# --- consultation (synchronous) ---------------------------------------------------------------------------------


def _entry_fields(doc: DmpDocument) -> dict[str, Any]:
    return {
        "entry_uuid": doc.entry_uuid,
        "logical_id": doc.logical_id,
        "unique_id": doc.unique_id,
        "repository_unique_id": doc.repository_unique_id,
        "status": doc.status,
        "title": doc.title[:300],
        "type_code": doc.type_code.code,
        "type_code_system": doc.type_code.scheme,
        "type_label": doc.type_code.display[:200],
        "class_code": doc.class_code.code,
        "format_code": doc.format_code.code,
        "confidentiality": ",".join(doc.confidentiality),
        "author_national_id": doc.author_national_id,
        "author_label": author_label(doc.author_person)[:200],
        "author_institution": institution_label(doc.author_institution)[:200],
        "creation_time": xds_datetime(doc.creation_time),
        "service_start_time": xds_datetime(doc.service_start_time),
        "submission_time": xds_datetime(doc.submission_time),
        "size": doc.size,
    }


def _local_documents(patient: Patient, unique_ids: set[str]) -> dict[str, Document]:
    """The patient's stored documents among these uniqueIds (UX.36: one row per document, local or DMP)."""
    roots = {u.split("^", 1)[0] for u in unique_ids}
    exts = {u.split("^", 1)[1] for u in unique_ids if "^" in u}
    if not exts:
        return {}
    found = Document.objects.filter(patient=patient, unique_id_root__in=roots, unique_id_ext__in=exts).only(
        "pk", "unique_id_root", "unique_id_ext", "replaces_id"
    )
    return {d.unique_id: d for d in found if d.unique_id in unique_ids}


def dmp_entries_upsert(
    *, patient: Patient, professional: Any, documents: Sequence[DmpDocument], full: bool
) -> list[DmpEntry]:
    """Merge a listing into the cache: by entryUUID, else by logicalId (a new metadata version of a known entry
    replaces it), else a new entry (highlighted until opened, unless it is one of ours). A replacement we sent
    deprecates the entry of the document it replaces. `full`: the listing is the whole DMP (first search), entries
    it no longer holds are dropped. Returns the entries of the listing."""
    pro = _professional(professional)
    mine = DmpEntry.objects.filter(patient=patient, professional=pro)  # this professional's cache only
    existing = list(mine)
    by_uuid = {e.entry_uuid: e for e in existing}
    by_logical = {e.logical_id: e for e in existing if e.logical_id}
    local = _local_documents(patient, {d.unique_id for d in documents})
    now = timezone.now()
    new: list[DmpEntry] = []
    changed: dict[int, DmpEntry] = {}
    names: list[str] = []
    for doc in documents:
        fields = _entry_fields(doc)
        names = list(fields)
        linked = local.get(doc.unique_id)
        fields["local_document"] = linked
        entry = by_uuid.get(doc.entry_uuid) or (by_logical.get(doc.logical_id) if doc.logical_id else None)
        if entry is None:
            new.append(
                DmpEntry(patient=patient, professional=pro, first_seen_at=now, seen=linked is not None, **fields)
            )
        else:
            for name, value in fields.items():
                setattr(entry, name, value)
            changed[entry.pk] = entry
    replaced = [d.replaces_id for d in local.values() if d.replaces_id is not None]
    with transaction.atomic():
        # Bulk writes (a first listing is up to hundreds of entries); a concurrent refresh that created the same
        # entry meanwhile is merged: its row is kept (ignore_conflicts), both hold the same listing.
        DmpEntry.objects.bulk_create(new, ignore_conflicts=True)
        if changed:
            DmpEntry.objects.bulk_update(list(changed.values()), names)
        rows = {e.entry_uuid: e for e in mine.all()}
        listed = [rows[d.entry_uuid] for d in documents if d.entry_uuid in rows]
        if replaced:  # a replacement we sent deprecates the entry of the document it replaces
            mine.filter(local_document_id__in=replaced).exclude(pk__in=[e.pk for e in listed]).update(
                status=STATUS_DEPRECATED
            )
        if full:
            mine.exclude(pk__in=[e.pk for e in listed]).delete()
    return listed


def _consult_ready(actor: Any, patient: Patient, request: HttpRequest | None) -> DmpAccess:
    """CONF.09 consent, then a fresh TD0.2 (CONF.01) with an authorization (TD0.3 done by dmp_check)."""
    consent = DmpConsent.objects.filter(patient=patient).first()
    if consent is None or not consent.consult_consent:
        raise DmpServiceError(
            "Le patient n'a pas donné son consentement à la consultation de son DMP : "
            "recueillez-le et enregistrez-le avant de consulter."
        )
    access = dmp_access_of(patient=patient, professional=actor)  # the user's own authorization (TD0.2/TD0.3)
    fresh = (
        access is not None and access.checked_at is not None and access.checked_at > timezone.now() - (CHECK_FRESHNESS)
    )
    if not fresh or access is None or not access.may_consult:
        access = dmp_check(actor=actor, patient=patient, request=request)
    if not access.exists:
        raise DmpServiceError("Le patient n'a pas de DMP.")
    if not access.active:
        raise DmpServiceError("Le DMP du patient est fermé.")
    if access.authorization == "INTERDITE":
        raise DmpServiceError("Le patient a interdit l'accès à son DMP pour ce professionnel.")
    if access.authorization != "VALIDE":
        raise DmpServiceError("Vous n'êtes pas autorisé à consulter le DMP de ce patient.")
    return access


def dmp_find_documents(*, actor: Any, patient: Patient, request: HttpRequest | None = None) -> list[DmpDocument]:
    """TD3.1 FindDocuments (Approved) as the DMP answers it, newest first, without the chart's cache (the
    command line's `caducee dmp list`). Needs an open DMP and a VALIDE authorization (see `dmp_check`)."""
    check_permission(actor, Perm.CLINICAL_READ)
    access = dmp_access_of(patient=patient, professional=actor)
    if access is None or not access.exists:
        raise DmpServiceError("Le patient n'a pas de DMP.")
    if not access.active:
        raise DmpServiceError("Le DMP du patient est fermé.")
    if access.authorization == "INTERDITE":
        raise DmpServiceError("Le patient a interdit l'accès à son DMP pour ce professionnel.")
    if access.authorization != "VALIDE":
        raise DmpServiceError(
            "Pas d'autorisation d'accès à ce DMP : le consentement du patient à sa consultation manque ou a été refusé."
        )
    try:
        documents = _api().find_documents(dmp_caller_for(actor), dmp_patient_ins(patient))
    except DmpError as exc:
        raise _failed(actor, "dmp.list", patient, exc, request) from exc
    _audit(actor, "dmp.list", patient, request=request, count=len(documents))
    return sorted(documents, key=lambda d: d.creation_time, reverse=True)


def dmp_refresh(*, actor: Any, patient: Patient, request: HttpRequest | None = None) -> list[DmpEntry]:
    """TD3.1: list the patient's DMP into the cache and return every cached entry, newest first.

    The first search covers the care of the last two years (FindDocuments with serviceStartTime ≥ today − 2 years);
    the next ones only ask for what was submitted since the previous one (find_new_documents, SC.DMP/UX.14,
    exemples_usage_dmp.md). Needs the patient's consent (CONF.09) and an authorization (CONF.01, TD0.3 as needed).
    """
    check_permission(actor, Perm.CLINICAL_READ)
    access = _consult_ready(actor, patient, request)
    ins = dmp_patient_ins(patient)
    caller = dmp_caller_for(actor)
    api = _api()
    started = timezone.now()
    full = access.last_listed_at is None
    try:
        if full:
            since = timezone.localdate() - timedelta(days=365 * FIRST_SEARCH_YEARS)
            documents = api.find_documents(caller, ins, service_start_from=since.strftime("%Y%m%d"))
        else:
            assert access.last_listed_at is not None
            documents = api.find_new_documents(
                caller, ins, submitted_from=xds_dtm(access.last_listed_at - INCREMENTAL_OVERLAP)
            )
    except DmpError as exc:
        raise _failed(actor, "dmp.list", patient, exc, request) from exc
    listed = dmp_entries_upsert(patient=patient, professional=actor, documents=documents, full=full)
    DmpAccess.objects.filter(pk=access.pk).update(last_listed_at=started, last_error="")
    _audit(actor, "dmp.list", patient, request=request, mode="initial" if full else "incremental", count=len(listed))
    return list(
        DmpEntry.objects.filter(patient=patient, professional=_professional(actor)).exclude(
            status__in=(STATUS_DELETED, STATUS_DEPRECATED)
        )
    )


def _current(
    actor: Any, entry: DmpEntry, action: str, request: HttpRequest | None
) -> tuple[DmpApi, DmpCaller, str, DmpDocument]:
    """The entry's current metadata version in the registry (TD3.1b by uniqueId): updates and retrieve name it."""
    patient = entry.patient
    ins = dmp_patient_ins(patient)
    caller = dmp_caller_for(actor)
    api = _api()
    try:
        document = api.find_by_unique_id(caller, ins, entry.unique_id)
    except DmpError as exc:
        raise _failed(actor, action, patient, exc, request) from exc
    if document is None and entry.professional_id != getattr(actor, "pk", None):
        # Listed for a colleague, not given to this professional: not "gone" (issue 13 §3), not theirs to see.
        raise DmpServiceError(
            "Ce document n'est pas accessible avec votre profil dans le DMP (masqué aux professionnels ou réservé "
            "à d'autres professions) : interrogez le DMP pour voir votre propre liste."
        )
    if document is None or document.status == STATUS_DELETED:
        raise DmpServiceError("Ce document n'est plus dans le DMP du patient (supprimé ou remplacé).")
    return api, caller, ins, document


def dmp_open(*, actor: Any, entry: DmpEntry, request: HttpRequest | None = None) -> bytes:
    """TD3.2: the document's bytes (CDA, hash and size checked by the client); audited; the entry is marked seen."""
    check_permission(actor, Perm.CLINICAL_READ)
    _consult_ready(actor, entry.patient, request)
    api, caller, ins, document = _current(actor, entry, "dmp.open", request)
    try:
        content = api.retrieve(caller, ins, document)
    except DmpError as exc:
        raise _failed(actor, "dmp.open", entry.patient, exc, request) from exc
    if entry.professional_id == getattr(actor, "pk", None):  # "new" is per professional: a colleague's stays new
        DmpEntry.objects.filter(pk=entry.pk).update(seen=True)
        entry.seen = True
    _audit_entry(actor, "dmp.open", entry, request=request)
    return content


def dmp_set_visibility(
    *,
    actor: Any,
    entry: DmpEntry,
    masked_ps: bool,
    invisible_patient: bool,
    invisible_legal_reps: bool,
    request: HttpRequest | None = None,
) -> DmpEntry:
    """TD3.3a (MASQUE_PS) / TD3.3b (INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX): a new metadata version with
    these codes; the cache (and the local document's flags, if it is ours) follow."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    _consult_ready(actor, entry.patient, request)  # the current version is looked up: a consultation
    api, caller, ins, document = _current(actor, entry, "dmp.visibility", request)
    wanted = {
        "MASQUE_PS": masked_ps,
        "INVISIBLE_PATIENT": invisible_patient,
        "INVISIBLE_REPRESENTANTS_LEGAUX": invisible_legal_reps,
    }
    base = [c for c in document.confidentiality if c not in VISIBILITY_FLAGS]
    new_codes = base + [flag for flag in VISIBILITY_FLAGS if wanted[flag]]
    try:
        updated = api.update_confidentiality(caller, ins, document, new_codes)
    except DmpError as exc:
        raise _failed(actor, "dmp.visibility", entry.patient, exc, request) from exc
    with transaction.atomic():
        for name, value in _entry_fields(updated).items():
            setattr(entry, name, value)
        entry.save()
        if entry.local_document_id is not None:
            local = Document.objects.get(pk=entry.local_document_id)
            local.dmp_hidden_from_ps = masked_ps
            local.dmp_invisible_patient = invisible_patient
            local.dmp_invisible_legal_reps = invisible_legal_reps
            local.save(update_fields=["dmp_hidden_from_ps", "dmp_invisible_patient", "dmp_invisible_legal_reps"])
        _audit_entry(actor, "dmp.visibility", entry, request=request, confidentiality=new_codes)
    return entry


def dmp_delete(*, actor: Any, entry: DmpEntry, request: HttpRequest | None = None) -> None:
    """TD3.3c: delete a document from the DMP, the author only (refused here before any call otherwise)."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    caller = dmp_caller_for(actor)
    if entry.author_national_id != caller.national_id:
        _audit_entry(
            actor, "dmp.delete", entry, request=request, outcome=AuditEvent.Outcome.REFUSED, reason="not_author"
        )
        raise DmpServiceError(
            "Seul l'auteur d'un document peut le supprimer du DMP. Vous pouvez le masquer aux professionnels."
        )
    _consult_ready(actor, entry.patient, request)  # the current version is looked up: a consultation
    api, caller, ins, document = _current(actor, entry, "dmp.delete", request)
    try:
        api.update_status(caller, ins, document, STATUS_DELETED)
    except DmpError as exc:
        raise _failed(actor, "dmp.delete", entry.patient, exc, request) from exc
    with transaction.atomic():
        _audit_entry(actor, "dmp.delete", entry, request=request)
        entry.delete()


def dmp_archive(*, actor: Any, entry: DmpEntry, request: HttpRequest | None = None) -> DmpEntry:
    """TD3.3d: archive a document (it leaves the default listing; it stays in the DMP)."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    _consult_ready(actor, entry.patient, request)  # the current version is looked up: a consultation
    api, caller, ins, document = _current(actor, entry, "dmp.archive", request)
    try:
        api.update_status(caller, ins, document, STATUS_ARCHIVED)
    except DmpError as exc:
        raise _failed(actor, "dmp.archive", entry.patient, exc, request) from exc
    with transaction.atomic():
        DmpEntry.objects.filter(pk=entry.pk).update(status=STATUS_ARCHIVED)
        entry.status = STATUS_ARCHIVED
        _audit_entry(actor, "dmp.archive", entry, request=request)
    return entry


__all__ = [
    "STATUS_APPROVED",
    "DmpServiceError",
    "dmp_access_of",
    "dmp_archive",
    "dmp_check",
    "dmp_consent_record",
    "dmp_delete",
    "dmp_open",
    "dmp_refresh",
    "dmp_send_document",
    "dmp_set_visibility",
]
