"""The practice settings (« Structure »): a use case of the top floor, since it sets what two apps read — the
high-trust identity documents the practice accepts (R19, identity's list) and the medical summary its records
produce (VSM 1.4 or IPS-FR) — on the practice of `accounts`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from caducee.accounts.models import Practice
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.identity.models import ID_DOCUMENTS


def practice_update_settings(
    *, actor: Any, practice: Practice, documents: list[str], summary_model: str, request: HttpRequest
) -> None:
    """R19: each site sets the list of high-trust identity documents it accepts; and which medical summary
    (VSM 1.4 or IPS-FR) the record produces."""
    check_permission(actor, Perm.PRACTICE_MANAGE)
    codes = [code for code in documents if code in ID_DOCUMENTS]
    if not codes:
        raise ValueError("Au moins un justificatif doit rester accepté.")
    if summary_model not in Practice.SummaryModel.values:
        raise ValueError("Modèle de synthèse inconnu.")
    practice.accepted_id_documents = codes
    practice.summary_model = summary_model
    practice.save(update_fields=["accepted_id_documents", "summary_model"])
    audit_record(
        actor=actor,
        action="practice.settings",
        object_type="practice",
        object_id=practice.pk,
        detail={"justificatifs": ",".join(codes), "synthese": summary_model},
        request=request,
    )
