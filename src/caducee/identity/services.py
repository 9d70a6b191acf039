"""Identity services: creation, edition, INSi retrieval, document check, vigilance (HackSoft style).

Every write checks the user's permission, bumps `version` (optimistic concurrency), keeps the
status history (R21) and records an audit event (R16).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.accounts.psc.services import psc_bearer
from caducee.core.audit import audit_record
from caducee.core.models import AuditEvent
from caducee.identity import status as machine
from caducee.identity.insi.client import (
    InsiClient,
    InsiError,
    InsiFault,
    InsiRefusedTraits,
    InsiRejectedResult,
    InsiTraits,
    InsiUnavailable,
    VitaleQuery,
)
from caducee.identity.insi.endpoint import insi_endpoint
from caducee.identity.models import (
    ID_DOCUMENTS,
    CollectionMethod,
    Identity,
    InsiCall,
    SearchToken,
    Status,
    StatusChange,
    VigilanceCase,
)
from caducee.identity.selectors import accepted_documents, differing_traits, identity_tokens, returned_traits
from caducee.identity.traits import COMPLEMENTARY_TRAITS, STRICT_TRAITS, Traits


class IdentityError(Exception):
    """A refused identity operation; the message is for the user, in French."""


class ConcurrentEditError(IdentityError):
    pass


def _sync_tokens(identity: Identity) -> None:
    """Rewrite the identity's search tokens, with copies of its sort key (R17 search reads the name order
    from the token index); called after every write of names or birth date."""
    SearchToken.objects.filter(identity=identity).delete()
    SearchToken.objects.bulk_create(
        SearchToken(
            identity=identity,
            token=t,
            birth_name=identity.birth_name,
            first_given_name=identity.first_given_name,
            birth_date=identity.birth_date,
        )
        for t in identity_tokens(identity)
    )


def _set_status(identity: Identity, new: str, *, actor: Any, reason: str) -> None:
    """R21: historise every status change (previous status, date, author)."""
    if identity.status == new:
        return
    StatusChange.objects.create(identity=identity, by=_user(actor), previous=identity.status, new=new, reason=reason)
    identity.status = new


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _save_versioned(identity: Identity, expected_version: int, fields: list[str]) -> None:
    """Optimistic check: the write applies only to the version the user saw; no lost update."""
    identity.updated_at = timezone.now()
    values = {f: getattr(identity, f) for f in [*fields, "updated_at"]}
    updated = Identity.objects.filter(pk=identity.pk, version=expected_version).update(
        version=F("version") + 1, **values
    )
    if not updated:
        raise ConcurrentEditError(
            "Cette identité a été modifiée par un autre utilisateur pendant votre saisie. "
            "Rechargez la page pour voir la version actuelle."
        )
    identity.version = expected_version + 1
    # SC.MSS/UX.15: `updated_at` is what the MSSanté work list pulls — its sync loop and its screen rescore the
    # waiting documents when an identity changed since they were scored (`mss.worklist.rescore_worklist`).


def _detect_vigilance(identity: Identity) -> None:
    """Potential duplicates (same names and birth date) and homonyms (same names, other birth date)."""
    others = Identity.objects.filter(
        birth_name=identity.birth_name, first_given_name=identity.first_given_name
    ).exclude(pk=identity.pk)
    for other in others.only("id", "birth_date")[:20]:
        kind = VigilanceCase.Kind.DUPLICATE if other.birth_date == identity.birth_date else VigilanceCase.Kind.HOMONYM
        VigilanceCase.objects.get_or_create(
            identity=identity,
            other=other,
            kind=kind,
            resolved_at=None,
            defaults={"detail": f"{identity.birth_name} {identity.first_given_name}"},
        )


def identity_create(
    *,
    actor: Any,
    traits: Traits,
    collection_method: str = CollectionMethod.SM,
    request: HttpRequest | None = None,
) -> Identity:
    check_permission(actor, Perm.IDENTITY_MANAGE)
    with transaction.atomic():
        identity = Identity.objects.create(collection_method=collection_method, **traits.as_dict())
        StatusChange.objects.create(identity=identity, by=_user(actor), previous="", new=Status.PROV, reason="Création")
        _sync_tokens(identity)
        _detect_vigilance(identity)
        audit_record(
            actor=actor,
            action="identity.create",
            object_type="identity",
            object_id=identity.pk,
            detail={"status": identity.status, "method": collection_method},
            request=request,
        )
    return identity


def identity_update(
    *, actor: Any, identity: Identity, version: int, traits: Traits, request: HttpRequest | None = None
) -> Identity:
    """Edit traits. R26: strict traits are read-only once RECUP/QUAL except for the identity super-user;
    R27: a strict trait changed on a retrieved identity drops its status one level."""
    check_permission(actor, Perm.IDENTITY_MANAGE)
    new = traits.as_dict()
    changed = [f for f in (*STRICT_TRAITS, *COMPLEMENTARY_TRAITS) if getattr(identity, f) != new[f]]
    strict_changed = [f for f in changed if f in STRICT_TRAITS]
    if not changed:
        return identity
    if strict_changed and identity.status in (Status.RECUP, Status.QUAL):
        if not getattr(actor, "is_identity_superuser", False):
            audit_record(
                actor=actor,
                action="identity.update",
                object_type="identity",
                object_id=identity.pk,
                patient_id=_patient_id(identity),
                outcome=AuditEvent.Outcome.REFUSED,
                detail={"fields": ",".join(strict_changed)},
                request=request,
            )
            raise PermissionDenied(
                "Identité récupérée ou qualifiée : les traits stricts ne sont modifiables que par un "
                "super-utilisateur identité (règle 26)."
            )
    with transaction.atomic():
        for f in changed:
            setattr(identity, f, new[f])
        fields = list(changed)
        if strict_changed and identity.status != Status.PROV:
            _set_status(
                identity,
                machine.after_strict_trait_changed(identity.status),
                actor=actor,
                reason="Modification d'un trait strict (règle 27)",
            )
            fields.append("status")
        _save_versioned(identity, version, fields)
        _sync_tokens(identity)
        if {"birth_name", "first_given_name", "birth_date"} & set(strict_changed):
            _detect_vigilance(identity)
        audit_record(
            actor=actor,
            action="identity.update",
            object_type="identity",
            object_id=identity.pk,
            patient_id=_patient_id(identity),
            detail={"fields": ",".join(changed), "status": identity.status},
            request=request,
        )
    return identity


def identity_set_attributes(
    *,
    actor: Any,
    identity: Identity,
    version: int,
    doubtful: bool,
    fictitious: bool,
    request: HttpRequest | None = None,
) -> Identity:
    """R25: 'identité douteuse' / 'identité fictive' downgrade to PROV and block any INSi call."""
    check_permission(actor, Perm.IDENTITY_MANAGE)
    with transaction.atomic():
        identity.is_doubtful, identity.is_fictitious = doubtful, fictitious
        fields = ["is_doubtful", "is_fictitious"]
        if doubtful or fictitious:
            _set_status(identity, Status.PROV, actor=actor, reason="Identité douteuse ou fictive (règle 25)")
            fields.append("status")
        _save_versioned(identity, version, fields)
        audit_record(
            actor=actor,
            action="identity.attributes",
            object_type="identity",
            object_id=identity.pk,
            patient_id=_patient_id(identity),
            detail={"douteuse": doubtful, "fictive": fictitious},
            request=request,
        )
    return identity


def insi_search(
    *,
    actor: Any,
    traits: InsiTraits | None = None,
    vitale: VitaleQuery | None = None,
    identity: Identity | None = None,
    request: HttpRequest | None = None,
) -> InsiCall:
    """Call INSi (by traits or carte Vitale) and trace the call and its full result (R4, R37, R39).

    Errors never raise: the call is traced with its outcome and message, the identity is untouched.
    """
    operation = InsiCall.Operation.VITALE if vitale else InsiCall.Operation.TRAITS
    sent: dict[str, Any] = dict(vars(vitale) if vitale else vars(traits or {}))
    started = time.monotonic()
    call = InsiCall(identity=identity, by=_user(actor), operation=operation, request_traits=sent)
    try:
        endpoint = insi_endpoint()
    except ImproperlyConfigured as exc:  # not configured, or the sandbox is not running
        call.outcome, call.message = InsiCall.Outcome.UNAVAILABLE, str(exc)
        return _trace_insi_call(call, actor=actor, identity=identity, started=started, request=request)
    call.endpoint = endpoint.url
    client = InsiClient(endpoint, bearer=psc_bearer(user=actor))
    try:
        result = client.search_vitale(vitale) if vitale else client.search_traits(traits)  # type: ignore[arg-type]
    except InsiError as exc:
        call.outcome = _error_outcome(exc)
        call.message = str(exc)
        call.response_xml = exc.response_xml
        call.attempts = exc.attempts or 1
    else:
        call.outcome = result.code if result.code in InsiCall.Outcome.values else InsiCall.Outcome.INVALID
        call.message = result.label
        call.attempts = result.attempts
        call.response_xml = result.response_xml
        if result.identity:
            call.result = {**vars(result.identity), "sandbox": settings.SANDBOX}  # R28: test data for good
    finally:
        client.close()
    return _trace_insi_call(call, actor=actor, identity=identity, started=started, request=request)


def _trace_insi_call(
    call: InsiCall, *, actor: Any, identity: Identity | None, started: float, request: HttpRequest | None
) -> InsiCall:
    call.duration_ms = int((time.monotonic() - started) * 1000)
    operation = call.operation
    with transaction.atomic():
        call.save()
        if identity and call.outcome in (InsiCall.Outcome.NOT_FOUND, InsiCall.Outcome.MULTIPLE):
            VigilanceCase.objects.get_or_create(
                identity=identity,
                kind=VigilanceCase.Kind.INSI_FAILED,
                resolved_at=None,
                defaults={"detail": call.get_outcome_display()},
            )
        audit_record(
            actor=actor,
            action=f"insi.{operation}",
            object_type="insi_call",
            object_id=call.pk,
            patient_id=_patient_id(identity),
            outcome=AuditEvent.Outcome.OK if call.outcome in ("00", "01", "02") else AuditEvent.Outcome.ERROR,
            detail={
                "cr": call.outcome,
                "tentatives": call.attempts,
                "duree_ms": call.duration_ms,
                "matricule": call.result.get("matricule", ""),
            },
            request=request,
        )
    return call


_ERROR_OUTCOMES: tuple[tuple[type[InsiError], str], ...] = (
    (InsiFault, InsiCall.Outcome.FAULT),
    (InsiUnavailable, InsiCall.Outcome.UNAVAILABLE),
    (InsiRejectedResult, InsiCall.Outcome.REJECTED),
    (InsiRefusedTraits, InsiCall.Outcome.REFUSED_TRAITS),
)


def _error_outcome(exc: InsiError) -> str:
    """The traced outcome of a failed call (subclasses included; anything else is an unreadable answer)."""
    return next((outcome for kind, outcome in _ERROR_OUTCOMES if isinstance(exc, kind)), InsiCall.Outcome.INVALID)


def _patient_id(identity: Identity | None) -> int | None:
    if identity is None:
        return None
    patient = getattr(identity, "patient", None)
    return patient.pk if patient else None


def identity_query_insi(*, actor: Any, identity: Identity, request: HttpRequest | None = None) -> InsiCall:
    """'Interroger INSi' for a stored identity. R25: refused for doubtful or fictitious identities."""
    check_permission(actor, Perm.IDENTITY_MANAGE)
    if identity.is_doubtful or identity.is_fictitious:
        raise IdentityError("Identité douteuse ou fictive : l'appel au téléservice INSi est bloqué (règle 25).")
    patient = getattr(identity, "patient", None)
    if patient is not None and patient.vitale_nir_od:
        # The carte Vitale was read: rechercherInsAvecCarteVitale with the ouvrant droit's NIR and the rang.
        vitale = VitaleQuery(
            nir_individu=None,
            nir_od=patient.vitale_nir_od,
            birth_name=identity.birth_name,
            birth_date=identity.birth_date,
            rang=patient.vitale_rang or "1",
        )
        return insi_search(actor=actor, vitale=vitale, identity=identity, request=request)
    traits = InsiTraits(
        birth_name=identity.birth_name,
        given_names=identity.given_names_list,
        sex=identity.sex,
        birth_date=identity.birth_date,
        birthplace_cog=None if identity.birthplace_cog == "99999" else identity.birthplace_cog,
    )
    return insi_search(actor=actor, traits=traits, identity=identity, request=request)


def identity_accept_insi(
    *, actor: Any, identity: Identity, call_id: int, version: int, request: HttpRequest | None = None
) -> Identity:
    """Accept INSi's identity: R6 fill matricule, OID and strict traits from the INSi return, then R20.

    The traits applied come from the traced call, never from the browser.
    """
    check_permission(actor, Perm.IDENTITY_MANAGE)
    if identity.is_doubtful or identity.is_fictitious:
        raise IdentityError("Identité douteuse ou fictive : l'identité INSi ne peut pas être intégrée (règle 25).")
    call = InsiCall.objects.filter(pk=call_id, identity=identity).first()
    if call is None or call.outcome != InsiCall.Outcome.FOUND or not call.result:
        raise IdentityError("Aucun résultat INSi à intégrer pour cette identité.")
    if call.accepted_at is not None:
        raise IdentityError("Ce résultat INSi a déjà été intégré.")
    matricule = call.result["matricule"] + call.result["key"]
    holder = Identity.objects.filter(ins_matricule=matricule).exclude(pk=identity.pk).first()
    if holder is not None:
        VigilanceCase.objects.get_or_create(
            identity=identity,
            other=holder,
            kind=VigilanceCase.Kind.DUPLICATE,
            resolved_at=None,
            defaults={"detail": "Même matricule INS"},
        )
        raise IdentityError(
            "Ce matricule INS est déjà porté par une autre identité : doublon potentiel signalé à l'identitovigilance."
        )
    changed = differing_traits(identity, call)
    with transaction.atomic():
        for f, value in returned_traits(call).items():
            setattr(identity, f, value)
        identity.ins_matricule = matricule
        identity.ins_oid = call.result["oid"]
        identity.ins_history = call.result.get("history", [])
        identity.insi_checked_at = call.at
        identity.from_sandbox = bool(call.result.get("sandbox"))
        new_status = machine.after_insi_accepted(identity.status, traits_changed=bool(changed))
        _set_status(identity, new_status, actor=actor, reason="Identité récupérée via INSi (règle 20)")
        _save_versioned(
            identity,
            version,
            [
                *STRICT_TRAITS,
                "ins_matricule",
                "ins_oid",
                "ins_history",
                "insi_checked_at",
                "from_sandbox",
                "status",
            ],
        )
        InsiCall.objects.filter(pk=call.pk).update(accepted_at=timezone.now())
        _sync_tokens(identity)
        VigilanceCase.objects.filter(identity=identity, kind=VigilanceCase.Kind.INSI_FAILED, resolved_at=None).update(
            resolved_at=timezone.now(),
            resolved_by=_user(actor),
            resolution="INSi : identité trouvée et intégrée",
        )
        audit_record(
            actor=actor,
            action="identity.insi_accept",
            object_type="identity",
            object_id=identity.pk,
            patient_id=_patient_id(identity),
            detail={"insi_call": call.pk, "status": identity.status, "traits_modifies": ",".join(changed)},
            request=request,
        )
    return identity


def identity_check_document(
    *, actor: Any, identity: Identity, version: int, document: str, request: HttpRequest | None = None
) -> Identity:
    """R19/R20: the user checked a high-trust document: PROV→VALI, RECUP→QUAL; the nature is recorded."""
    check_permission(actor, Perm.IDENTITY_MANAGE)
    if identity.is_doubtful or identity.is_fictitious:
        raise IdentityError("Identité douteuse ou fictive : elle ne peut pas être validée (règle 25).")
    if document not in accepted_documents(Practice.objects.first()):
        raise IdentityError(
            "Ce justificatif ne fait pas partie des dispositifs à haut niveau de confiance acceptés par la structure."
        )
    with transaction.atomic():
        identity.id_document = document
        identity.id_document_checked_at = timezone.now()
        identity.id_document_checked_by = _user(actor)
        _set_status(
            identity,
            machine.after_document_checked(identity.status),
            actor=actor,
            reason=f"Justificatif contrôlé : {ID_DOCUMENTS[document]} (règle 19)",
        )
        _save_versioned(
            identity, version, ["id_document", "id_document_checked_at", "id_document_checked_by", "status"]
        )
        audit_record(
            actor=actor,
            action="identity.document_check",
            object_type="identity",
            object_id=identity.pk,
            patient_id=_patient_id(identity),
            detail={"justificatif": document, "status": identity.status},
            request=request,
        )
    return identity


def identity_verification_ko(
    *, actor: Any, identity: Identity, reason: str, request: HttpRequest | None = None
) -> Identity:
    """R49: a verification returned KO: downgrade and invalidate the matricule INS and its OID."""
    with transaction.atomic():
        identity = Identity.objects.select_for_update().get(pk=identity.pk)
        _set_status(
            identity,
            machine.after_verification_ko(identity.status),
            actor=actor,
            reason=f"Vérification INSi KO (règle 49) : {reason}",
        )
        former = identity.ins_matricule
        identity.ins_matricule, identity.ins_oid = "", ""
        _save_versioned(identity, identity.version, ["status", "ins_matricule", "ins_oid"])
        VigilanceCase.objects.create(identity=identity, kind=VigilanceCase.Kind.INSI_KO, detail=reason[:300])
        audit_record(
            actor=actor,
            action="identity.verification_ko",
            object_type="identity",
            object_id=identity.pk,
            patient_id=_patient_id(identity),
            outcome=AuditEvent.Outcome.REFUSED,
            detail={"matricule_invalide": former, "raison": reason},
            request=request,
        )
    return identity


def vigilance_resolve(*, actor: Any, case: VigilanceCase, resolution: str, request: HttpRequest | None = None) -> None:
    check_permission(actor, Perm.IDENTITY_VIGILANCE)
    if case.resolved_at:
        return
    case.resolved_at, case.resolved_by, case.resolution = timezone.now(), _user(actor), resolution[:300]
    case.save(update_fields=["resolved_at", "resolved_by", "resolution"])
    audit_record(
        actor=actor,
        action="vigilance.resolve",
        object_type="vigilance",
        object_id=case.pk,
        detail={"kind": case.kind, "resolution": resolution[:100]},
        request=request,
    )
