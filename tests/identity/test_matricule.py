"""Matricule INS checks: 13 characters + key = 97 − n mod 97, 2A→19, 2B→18 (CNAM nir-validation vectors)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from caducee.identity.matricule import MatriculeError, compute_key, nature, parse_matricule


@pytest.mark.parametrize(
    ("number", "key"),
    [
        ("2550814168025", "38"),
        ("2940375120005", "91"),
        ("1531245007231", "60"),
        ("284052A321025", "52"),
        ("2B34567890123", "78"),
        ("297022A020778", "78"),
        ("160012B020777", "13"),
        ("1090763220834", "89"),
        ("2751263220749", "74"),
        ("2790351215189", "89"),
    ],
)
def test_key_vectors(number: str, key: str) -> None:
    assert compute_key(number) == key


@pytest.mark.parametrize(
    "value",
    [
        "2 84 05 2B 321 025 79",
        "2 84 20 2B 321 025 28",
        "2 84 99 2B 321 025 31",
        "279035121518989",
        "297022a02077878",
    ],
)
def test_valid_matricules_including_unknown_month(value: str) -> None:
    assert len(parse_matricule(value).value) == 15


def test_wrong_key_names_the_key() -> None:
    with pytest.raises(MatriculeError, match="Clé de contrôle incorrecte : 88 saisie, 89 attendue"):
        parse_matricule("279035121518988")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("27903512151898", "15 caractères"),  # R17: all 15 characters
        ("2790351215189899", "15 caractères"),
        ("779035121518989", "premier caractère"),  # NNP/other: not an INS
        ("279005121518989", "Mois"),
        ("279155121518989", "Mois"),
        ("2790300215189", "15 caractères"),
        ("2790351X1518989", "chiffres"),
    ],
)
def test_invalid_structure(value: str, message: str) -> None:
    with pytest.raises(MatriculeError, match=message):
        parse_matricule(value)


def test_hermann_gatien_cnda_fixture_key_is_refused() -> None:
    """The CNDA TEST_2.08 cas 2 fixture carries key 60 where 76 is computed: we refuse it."""
    with pytest.raises(MatriculeError):
        parse_matricule("181036322045660")


def test_nature_comes_from_the_oid() -> None:
    assert nature("1.2.250.1.213.1.4.8") == "NIR"
    assert nature("1.2.250.1.213.1.4.9") == "NIA"
    assert nature("1.2.250.1.213.1.4.10") == "NIR de test"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caducee.cli", *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_cli_ins_check_acceptance() -> None:
    ok = _cli("ins", "check", "279035121518989")
    assert ok.returncode == 0 and "NIR" in ok.stdout
    bad = _cli("ins", "check", "279035121518988")
    assert bad.returncode != 0 and "Clé" in bad.stderr
    corsica = _cli("ins", "check", "2 97 02 2A 020 778 78")
    assert corsica.returncode == 0
