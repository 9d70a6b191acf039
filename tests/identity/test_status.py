"""The status machine: R20 (transitions), R27 (one level down), R49 (verification KO), R24 (what remains)."""

from __future__ import annotations

import pytest

from caducee.identity import status as machine
from caducee.identity.models import Status


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Status.PROV, Status.RECUP),
        (Status.VALI, Status.QUAL),
        (Status.RECUP, Status.RECUP),
        (Status.QUAL, Status.QUAL),
    ],
)
def test_r20_insi_accepted(before: str, after: str) -> None:
    assert machine.after_insi_accepted(before, traits_changed=False) == after


def test_r20_insi_with_other_traits_than_the_document_checked_gives_recup() -> None:
    assert machine.after_insi_accepted(Status.VALI, traits_changed=True) == Status.RECUP


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Status.PROV, Status.VALI),
        (Status.RECUP, Status.QUAL),
        (Status.VALI, Status.VALI),
        (Status.QUAL, Status.QUAL),
    ],
)
def test_r20_document_checked(before: str, after: str) -> None:
    assert machine.after_document_checked(before) == after


@pytest.mark.parametrize(
    ("before", "after"), [(Status.RECUP, Status.PROV), (Status.QUAL, Status.VALI), (Status.VALI, Status.PROV)]
)
def test_r27_strict_trait_changed(before: str, after: str) -> None:
    assert machine.after_strict_trait_changed(before) == after


@pytest.mark.parametrize(
    ("before", "after"), [(Status.QUAL, Status.VALI), (Status.RECUP, Status.PROV), (Status.VALI, Status.VALI)]
)
def test_r49_verification_ko(before: str, after: str) -> None:
    assert machine.after_verification_ko(before) == after


def test_r24_remaining_steps() -> None:
    assert len(machine.remaining_steps(Status.PROV)) == 2
    assert machine.remaining_steps(Status.RECUP) == ["Contrôler une pièce d'identité à haut niveau de confiance"]
    assert machine.remaining_steps(Status.QUAL) == []
