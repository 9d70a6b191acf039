"""Trait input: R5 (only five mandatory traits), RNIV normalisation, partial birth dates, INSi alphabet."""

from __future__ import annotations

import pytest

from caducee.identity.traits import TraitsError, clean_traits, parse_birth_date

BASE = {"birth_name": "Dupont", "first_given_name": "Jean", "birth_date": "01/02/1980", "sex": "M"}


def test_r5_five_traits_are_enough_and_unknown_birthplace_defaults_to_99999() -> None:
    traits = clean_traits(BASE)
    assert (
        traits.birth_name,
        traits.first_given_name,
        traits.birth_date,
        traits.sex,
        traits.birthplace_cog,
    ) == ("DUPONT", "JEAN", "1980-02-01", "M", "99999")
    assert traits.birth_given_names == "JEAN"


def test_r5_missing_mandatory_traits_are_all_reported() -> None:
    with pytest.raises(TraitsError) as exc:
        clean_traits({})
    assert set(exc.value.errors) == {"birth_name", "first_given_name", "birth_date", "sex"}


def test_accents_and_ligatures_are_normalised() -> None:
    traits = clean_traits({**BASE, "birth_name": "d’Æion-Léonard", "first_given_name": "Cœur"})
    assert traits.birth_name == "D'AEION-LEONARD"
    assert traits.first_given_name == "COEUR"


def test_characters_insi_refuses_are_refused() -> None:
    with pytest.raises(TraitsError) as exc:
        clean_traits({**BASE, "birth_name": "DUPONT2"})
    assert "birth_name" in exc.value.errors


def test_first_given_name_must_be_the_first_of_the_list() -> None:
    with pytest.raises(TraitsError) as exc:
        clean_traits({**BASE, "birth_given_names": "PAUL JEAN"})
    assert "first_given_name" in exc.value.errors


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("26/02/1997", "1997-02-26"),
        ("1997-02-26", "1997-02-26"),
        ("00/00/1950", "1950-00-00"),
        ("00/05/1950", "1950-05-00"),
        ("1.2.1990", "1990-02-01"),
    ],
)
def test_birth_dates_including_unknown_day_or_month(raw: str, expected: str) -> None:
    assert parse_birth_date(raw) == expected


@pytest.mark.parametrize("raw", ["31/02/1990", "12/00/1990", "01/01/2999", "1990", "01/13/1990"])
def test_impossible_birth_dates(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_birth_date(raw)
