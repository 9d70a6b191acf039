from __future__ import annotations

import pytest

from caducee.patients.models import Patient
from caducee.record.models import Concept
from caducee.record.terminology import OID_ATC, OID_CIM10, OID_CIS, OID_EDQM, OID_UCUM, label_key

# A few real concepts (codes from the ANS files, labels from the CI-SIS value sets / BDPM): enough for
# code validation and search without loading a whole terminology in every test.
CONCEPTS = [
    (OID_CIM10, "E11", "Diabète sucré de type 2"),
    (OID_CIM10, "E11.9", "Diabète sucré de type 2, sans complication"),
    (OID_CIM10, "E10", "Diabète sucré de type 1"),
    (OID_CIM10, "I10", "Hypertension essentielle (primitive)"),
    (OID_CIM10, "I50.9", "Insuffisance cardiaque, sans précision"),
    (OID_CIM10, "Z88.0", "Allergie personnelle à la pénicilline"),
    (OID_CIM10, "K35.8", ""),
    (OID_ATC, "A10BA02", "metformine"),
    (OID_ATC, "C09AA05", "ramipril"),
    (OID_CIS, "69065160", "METFORMINE ALMUS 1000 mg, comprimé pelliculé"),
    (OID_CIS, "69118175", "AMOXICILLINE BIOGARAN 500 mg, gélule"),
    (OID_EDQM, "20053000", "Voie orale"),
    (OID_EDQM, "20066000", "Voie sous-cutanée"),
    (OID_EDQM, "10219000", "Comprimé"),
    (OID_UCUM, "mg", "milligram"),
    (OID_UCUM, "kg", "kilogram"),
]


@pytest.fixture
def concepts(db: None) -> None:
    Concept.objects.bulk_create([Concept(system=s, code=c, label=lb, label_key=label_key(lb)) for s, c, lb in CONCEPTS])


@pytest.fixture
def patient(make_patient) -> Patient:  # type: ignore[no-untyped-def]
    return make_patient()
