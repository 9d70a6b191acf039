"""The one-click consultation validation (issue 3 §2, issue 4, issue 5 §6; DESIGN.md principle 3).

Validation does what the rules ask with defaults the doctor can change before clicking: the VSM refresh (pre-ticked
when the summary changed since the last VSM, or for an ALD patient without a VSM in the last year), the DMP feed and
the MSSanté sends, in one transaction with the consultation's state change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.dmp.selectors import SENDABLE_MODELS, dmp_feed_refusal
from caducee.dmp.services import dmp_delivery_enqueue
from caducee.documents.models import Document
from caducee.documents.production import vsm_create
from caducee.mss.services import mss_send
from caducee.record.consultations import consultation_mark_validated
from caducee.record.models import Consultation
from caducee.record.services import problem_create, vital_record


@dataclass(frozen=True)
class Findings:
    """What the examination adds to the record: measurements and a diagnosis (CIM-10 code and/or free text)."""

    measures: dict[str, Decimal] = field(default_factory=dict)  # vital_record keyword → value
    diagnosis_code: str = ""
    diagnosis_label: str = ""


def consultation_validate(
    *,
    actor: Any,
    consultation: Consultation,
    make_vsm: bool,
    vsm_exclude: set[str],
    findings: Findings | None = None,
    send_dmp: bool = False,
    dmp_visibility: frozenset[str] = frozenset(),
    mss_recipients: Sequence[str] = (),
    request: HttpRequest | None = None,
) -> list[Document]:
    """One click: the consultation is validated and every document ticked in the panel is produced, in one
    transaction — a missing mandatory datum (MissingDataError) leaves the consultation open and stores nothing.

    `send_dmp`: each produced document is queued for the patient's DMP (outbox delivery written in the same
    transaction, `dmp.services.dmp_delivery_enqueue`) with the `dmp_visibility` codes (MASQUE_PS, INVISIBLE_PATIENT…).
    Only when `dmp.selectors.dmp_feed_refusal(patient)` is empty (QUAL identity, R28; no opposition, SC.DMP/CONF.06):
    otherwise the documents are produced and the consultation validated all the same, nothing is queued, and the
    view tells the doctor why with the same function (the one rule, also used by the panel and the handler);
    `dmp.selectors.document_dmp_states(produced)` gives each document's DMP state.

    `mss_recipients`: the produced documents go by MSSanté to these addresses (issue 5 §6), the message and its
    outbox delivery written in the same transaction; a refusal (`mss.services.MssServiceError`, e.g. a patient
    address without a QUAL identity, SC.MSS.14) leaves the consultation open and stores nothing."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    produced: list[Document] = []
    findings = findings or Findings()
    patient = consultation.patient
    with transaction.atomic():
        consultation_mark_validated(actor=actor, consultation=consultation, request=request)
        # The findings enter the record first, so the summary produced below already carries them.
        if findings.measures:
            vital_record(
                actor=actor, patient=patient, measured_at=consultation.date, request=request, **findings.measures
            )
        if findings.diagnosis_code or findings.diagnosis_label:
            problem_create(
                actor=actor,
                patient=patient,
                label=findings.diagnosis_label,
                cim10_code=findings.diagnosis_code,
                onset=timezone.localdate(),
                request=request,
            )
        if make_vsm:
            produced.append(
                vsm_create(
                    actor=actor,
                    patient=consultation.patient,
                    exclude=vsm_exclude,
                    consultation=consultation,
                    request=request,
                )
            )
        if send_dmp and produced and not dmp_feed_refusal(patient):
            for document in produced:
                if document.model in SENDABLE_MODELS:
                    dmp_delivery_enqueue(document=document, visibility=sorted(dmp_visibility), actor=actor)
            audit_record(
                actor=actor,
                action="dmp.send",
                object_type="consultation",
                object_id=consultation.pk,
                patient_id=patient.pk,
                detail={"documents": [d.unique_id for d in produced], "visibility": sorted(dmp_visibility)},
                request=request,
            )
        if mss_recipients and produced:
            mss_send(
                actor=actor,
                patient=patient,
                documents=produced,
                recipients=list(mss_recipients),
                request=request,
            )
    consultation.state = Consultation.State.VALIDATED
    return produced
