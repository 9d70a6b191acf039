"""Filing a received CDA: the INSi check of its INS (R52/R53/R55), the decision (chart or work list), the store.

INS rules (reference/ins/guide_implementation_INS_regles_extraites_segur.txt; SC.MSS/UX.03 asks at least these):

- R52: an INS sent by another identification domain is checked with INSi automatically, *unless this INS already
  exists here with the status QUAL or RECUP* — matricule, OID and the four traits equal (`matching.known_here`).
  A strict match (UX.07) is by definition such an identity, so the usual automatic filing needs no call; every
  other document carrying an INS is checked. `settings.MSS_INSI_VERIFY = "always"` checks every incoming INS.
- R53: every call and its answer are traced — `identity.services.insi_search` writes the InsiCall and the audit
  event; the call id is kept in `ReceivedDocument.patient_traits["insi"]`.
- R55: a KO (INSi knows no such identity, or returns another matricule or other traits) means no automatic
  integration: the document goes to the work list with the alert. INSi unreachable: work list too, with the
  reason — the document is never lost.

The check uses INSi's search by traits (the client offers no separate verification operation): OK when INSi
returns exactly the document's matricule, OID and strict traits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.utils import timezone

from caducee.core.text import search_key
from caducee.documents.received import CdaHeader, Outcome, PatientTraits, received_store
from caducee.identity.insi.client import InsiTraits
from caducee.identity.models import Identity, InsiCall
from caducee.identity.services import insi_search
from caducee.mss.matching import Candidate, identities_with_ins, known_here
from caducee.mss.models import ReceivedDocument
from caducee.patients.models import Patient


class InsCheck(StrEnum):
    NO_INS = "no_ins"  # the document carries no INS: nothing to check
    NOT_NEEDED = "not_needed"  # R52 exception: known here as QUAL/RECUP with the same traits
    OK = "ok"
    KO = "ko"  # R55
    UNAVAILABLE = "unavailable"  # INSi did not answer (or could not be asked)


@dataclass(frozen=True)
class Verification:
    status: InsCheck
    reason: str = ""
    call_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"statut": self.status.value, "motif": self.reason, "appel": self.call_id}


def _insi_traits(traits: PatientTraits) -> InsiTraits:
    names = traits.given_names.split() or [traits.first_given_name]
    return InsiTraits(birth_name=traits.birth_name, given_names=names, sex=traits.sex, birth_date=traits.birth_date)


def _differences(traits: PatientTraits, result: dict[str, Any]) -> list[str]:
    returned = {
        "matricule INS": (result.get("matricule", "") + result.get("key", "")).upper(),
        "OID": result.get("oid", ""),
        "nom de naissance": search_key(result.get("birth_name", "")),
        "premier prénom": search_key(result.get("first_given_name", "")),
        "date de naissance": result.get("birth_date", ""),
        "sexe": result.get("sex", ""),
    }
    incoming = {
        "matricule INS": traits.ins_matricule,
        "OID": traits.ins_oid,
        "nom de naissance": search_key(traits.birth_name),
        "premier prénom": search_key(traits.first_given_name),
        "date de naissance": traits.birth_date,
        "sexe": traits.sex,
    }
    return [label for label, value in incoming.items() if returned[label] != value]


def ins_verify(*, traits: PatientTraits, force: bool = False, identities: list[Identity] | None = None) -> Verification:
    """R52/R53/R55: is the document's INS confirmed by INSi (or known here already)?

    `identities`: the local identities already read for matching (they include every holder of the matricule)."""
    if not traits.ins_matricule:
        return Verification(InsCheck.NO_INS, "le document ne porte pas d'INS.")
    always = settings.MSS_INSI_VERIFY == "always"
    holders = identities_with_ins(traits) if identities is None else identities
    if not (force or always) and any(known_here(traits, i) for i in holders):
        return Verification(InsCheck.NOT_NEEDED, "INS déjà connue ici (identité qualifiée ou récupérée, règle 52).")
    call = insi_search(actor=None, traits=_insi_traits(traits))
    if call.outcome == InsiCall.Outcome.FOUND:
        differences = _differences(traits, call.result)
        if not differences:
            return Verification(InsCheck.OK, "INS confirmée par le téléservice INSi.", call.pk)
        return Verification(
            InsCheck.KO,
            "INS non confirmée par INSi (règle 55) : " + ", ".join(differences) + " différent(s).",
            call.pk,
        )
    if call.outcome in (InsiCall.Outcome.NOT_FOUND, InsiCall.Outcome.MULTIPLE):
        return Verification(
            InsCheck.KO, f"INS non confirmée par INSi (règle 55) : {call.get_outcome_display().lower()}.", call.pk
        )
    return Verification(InsCheck.UNAVAILABLE, f"vérification INSi impossible : {call.message}", call.pk)


@dataclass(frozen=True)
class Decision:
    file_into: int | None  # patient id, for an automatic filing
    reason: str


def decide(candidates: list[Candidate], verification: Verification) -> Decision:
    """UX.07: one strict candidate and an INS confirmed (or known here, R52) → automatic filing; else work list."""
    strict = [c for c in candidates if c.strict]
    if verification.status == InsCheck.KO:
        return Decision(None, verification.reason)
    if verification.status == InsCheck.UNAVAILABLE:
        return Decision(None, verification.reason)
    if verification.status == InsCheck.NO_INS:
        return Decision(None, "pas d'INS qualifiée dans le document : rattachement manuel.")
    if len(strict) > 1:
        return Decision(None, "plusieurs dossiers portent cette INS et ces traits : rattachement manuel.")
    if len(strict) == 1:
        return Decision(strict[0].patient_id, "INS qualifiée et traits identiques (rattachement automatique).")
    if candidates:
        return Decision(
            None, f"aucun dossier qualifié ne correspond strictement (meilleur score : {candidates[0].score})."
        )
    return Decision(None, "aucun dossier ne correspond à ce patient.")


def received_file(
    *,
    received: ReceivedDocument,
    patient: Patient,
    cda: bytes,
    header: CdaHeader,
    pdf: bytes | None,
    actor: Any = None,
    reason: str = "",
) -> ReceivedDocument:
    """Store the CDA in the patient's chart and record the outcome on `received` (saved)."""
    result = received_store(
        actor=actor, patient=patient, cda=cda, header=header, pdf=pdf, correspondent=received.message.sender_name
    )
    received.patient = patient
    received.document = result.document
    if result.outcome in (Outcome.CREATED, Outcome.REPLACED):
        received.state = ReceivedDocument.State.FILED
        received.reason = reason + (
            " Nouvelle version : remplace la précédente." if result.outcome == "replaced" else ""
        )
    elif result.outcome == Outcome.DUPLICATE:
        received.state = ReceivedDocument.State.FILED
        received.reason = result.reason
    elif result.outcome == Outcome.OUTDATED:
        received.state = ReceivedDocument.State.DUPLICATE
        received.reason = result.reason
    else:  # CONFLICT: never filed over another patient's document
        received.state = ReceivedDocument.State.QUARANTINED
        received.reason = result.reason
        received.patient = None
        received.document = None
    received.reason = received.reason.strip()
    if actor is not None:
        received.resolved_by = actor if getattr(actor, "is_authenticated", False) else None
        received.resolved_at = timezone.now()
    received.save()
    return received


# ig_hl7v2_courriel_mss error-codes.md: the MDN error of a document not integrated automatically.
MDN_UNKNOWN_PATIENT = "902^Identifiant patient inconnu"
MDN_NO_INS = "903^INS non présent dans le document"
MDN_INS_MISMATCH = "904^L'INS transmis ne correspond pas exactement à celui stocké dans la base du consommateur"
MDN_INS_INCOMPLETE = "905^L'INS transmis n'est pas complet"
MDN_OTHER = "906"


def mdn_error(received: ReceivedDocument) -> str:
    """`code^libellé` for the MDN of a document left in the work list or in quarantine."""
    traits = received.patient_traits or {}
    check = (traits.get("insi") or {}).get("statut", "")
    if received.state == ReceivedDocument.State.QUARANTINED or check == InsCheck.UNAVAILABLE:
        return f"{MDN_OTHER}^{received.reason or 'intégration impossible'}".replace("\n", " ")
    if check == InsCheck.NO_INS or not traits.get("ins_matricule"):
        return MDN_NO_INS
    if not all(traits.get(k) for k in ("birth_name", "first_given_name", "birth_date", "sex")):
        return MDN_INS_INCOMPLETE
    if not received.candidates:
        return MDN_UNKNOWN_PATIENT
    return MDN_INS_MISMATCH
