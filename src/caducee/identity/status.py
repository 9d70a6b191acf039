"""The identity status machine (Guide d'implémentation INS R20, R25, R27, R49).

Two independent criteria: traits retrieved through INSi, and traits checked on a high-trust document.
  PROV = neither, RECUP = INSi only, VALI = document only, QUAL = both.
"""

from __future__ import annotations

from caducee.identity.models import Status

_FROM_CRITERIA = {
    (False, False): Status.PROV,
    (True, False): Status.RECUP,
    (False, True): Status.VALI,
    (True, True): Status.QUAL,
}


def criteria(status: str) -> tuple[bool, bool]:
    """(retrieved through INSi, checked on a high-trust document)."""
    return status in (Status.RECUP, Status.QUAL), status in (Status.VALI, Status.QUAL)


def status_of(*, insi: bool, document: bool) -> Status:
    return _FROM_CRITERIA[(insi, document)]


def after_insi_accepted(status: str, *, traits_changed: bool) -> Status:
    """R20: INSi 00 accepted → RECUP, or QUAL when a document check already holds.

    When INSi's traits differ from those checked on the document, that check no longer holds:
    the identity becomes RECUP and the document must be checked again.
    """
    _, document = criteria(status)
    return status_of(insi=True, document=document and not traits_changed)


def after_document_checked(status: str) -> Status:
    """R20: a high-trust document checked → VALI, or QUAL when already retrieved through INSi."""
    insi, _ = criteria(status)
    return status_of(insi=insi, document=True)


def after_strict_trait_changed(status: str) -> Status:
    """R27: a strict trait changed drops the status one level: RECUP→PROV, QUAL→VALI.

    VALI→PROV too: the traits checked on the document are no longer those stored.
    """
    insi, document = criteria(status)
    if insi:
        return status_of(insi=False, document=document)
    return Status.PROV


def after_verification_ko(status: str) -> Status:
    """R49: an INSi verification KO downgrades the status (and the caller removes the INS)."""
    _, document = criteria(status)
    return status_of(insi=False, document=document)


def remaining_steps(status: str) -> list[str]:
    """R24: what remains to reach QUAL, in the user's words."""
    insi, document = criteria(status)
    steps = []
    if not insi:
        steps.append("Interroger le téléservice INSi et accepter l'identité retournée")
    if not document:
        steps.append("Contrôler une pièce d'identité à haut niveau de confiance")
    return steps
