"""Reading the carte Vitale, behind an interface.

The real reader needs the SESAM-Vitale components (GALSS/PC/SC, or the ApCV SDK) and a CNDA
agreement, which an open-source project cannot ship: `SesamVitaleReader` is the adapter point.
`FakeVitaleReader` simulates a few cards of the INSi test personas so the "avec carte Vitale"
journey works in the demo and in the tests. The NIR read on a card is the ouvrant droit's: it is
never taken as the patient's INS (only INSi gives an INS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings


@dataclass(frozen=True)
class VitaleBeneficiary:
    birth_name: str
    used_name: str
    given_name: str
    birth_date: str  # YYYY-MM-DD (the card may carry a lunar date)
    rang: str  # rang de naissance (1 for the first birth on that date)
    nir_individu: str | None  # 15 characters, when the card carries it
    sex: str


@dataclass(frozen=True)
class VitaleCard:
    serial: str
    nir_od: str  # ouvrant droit, 15 characters
    beneficiaries: tuple[VitaleBeneficiary, ...]


class VitaleReaderError(Exception):
    pass


class VitaleReader(Protocol):
    def read(self) -> list[VitaleCard]: ...


class FakeVitaleReader:
    """Simulated cards: INSi qualification personas (test data, no real person)."""

    CARDS = (
        VitaleCard(
            "SIM-0001",
            "297022A02077878",
            (VitaleBeneficiary("ADRTROIS", "", "DOMINIQUE", "1997-02-26", "1", "297022A02077878", "F"),),
        ),
        VitaleCard(
            "SIM-0002",
            "275126322074974",
            (VitaleBeneficiary("ADRUN", "", "ZOE", "1975-12-31", "1", "275126322074974", "F"),),
        ),
        VitaleCard(
            # A family card (sandbox personas invented for the demo): the mother is the ouvrant droit; the
            # twins share her NIR and their birth date and differ by their rang de naissance.
            "SIM-0003",
            "284093306327451",
            (
                VitaleBeneficiary("FONTAINE", "", "ISABELLE", "1984-09-02", "1", "284093306327451", "F"),
                VitaleBeneficiary("FONTAINE", "", "JULES", "2015-03-11", "1", None, "M"),
                VitaleBeneficiary("FONTAINE", "", "LOUIS", "2015-03-11", "2", None, "M"),
            ),
        ),
    )

    def read(self) -> list[VitaleCard]:
        return list(self.CARDS)


class SesamVitaleReader:
    def read(self) -> list[VitaleCard]:
        raise VitaleReaderError(
            "Lecteur SESAM-Vitale non disponible : il nécessite les composants SESAM-Vitale (GIE) "
            "installés sur le poste. Utilisez la saisie sans carte."
        )


def vitale_reader() -> VitaleReader:
    """The reader of the settings (CADUCEE_VITALE_READER: "fake" on the sandbox, which publishes it; else "sesam")."""
    return FakeVitaleReader() if settings.VITALE_READER == "fake" else SesamVitaleReader()


def find_beneficiary(serial: str, index: int) -> tuple[VitaleCard, VitaleBeneficiary]:
    for card in vitale_reader().read():
        if card.serial == serial and 0 <= index < len(card.beneficiaries):
            return card, card.beneficiaries[index]
    raise VitaleReaderError("Carte Vitale retirée ou bénéficiaire introuvable : relisez la carte.")
