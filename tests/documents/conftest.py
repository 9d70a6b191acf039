"""Fixtures for CDA documents: the CI-SIS validator, compiled once per test session."""

from __future__ import annotations

import time

import pytest

from caducee.documents.validation import CdaValidator


@pytest.fixture(scope="session")
def cda_validator() -> CdaValidator:
    """The ANS kit validator (XSD + generic profiles), ready to use.

    Compiling the schematrons takes ~10 s the first time, ~7 s when $CADUCEE_DATA_DIR/cda-cache/ already holds
    them (Saxon-HE still has to load the 10 MB header stylesheet): pay it once per session. Volet schematrons
    are small and compiled on first use. Usage::

        report = cda_validator.validate(xml_bytes)
        assert report.is_valid, report.format()
    """
    started = time.perf_counter()
    validator = CdaValidator()
    validator.precompile()
    # Shown with `pytest -rP` or on failure: keeps an eye on the cost the cache is meant to save.
    print(f"CI-SIS validator ready in {time.perf_counter() - started:.1f} s")
    return validator
