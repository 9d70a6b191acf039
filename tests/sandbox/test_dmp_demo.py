"""Issue 13 §4: the sandbox DMP's preloaded demo documents are as conformant as what the product produces.

Before the fix they had no author, custodian, legalAuthenticator, setId, versionNumber, documented act nor encounter,
and the patient without the INS traits: the XSD and the "structuration minimale" schematron refused all six.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from caducee.core.oids import OID_INS_NIR_TEST
from caducee.sandbox.dmp import demo
from tests.sandbox.fixtures import start_test_dmp

NS = {"h": "urn:hl7-org:v3"}
PERSONAS = Path(demo.__file__).parents[1] / "data" / "insi_personas.json"


@pytest.fixture(scope="module")
def preloaded(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    """(uniqueId, CDA) of every document an empty sandbox DMP preloads."""
    directory = tmp_path_factory.mktemp("dmp")
    database = directory / "demo.sqlite3"
    sandbox = start_test_dmp(directory / "pki", database)
    try:
        with sqlite3.connect(database) as db:
            rows = db.execute("SELECT entry_uuid, unique_id FROM documents ORDER BY rowid").fetchall()
        return [(unique_id, sandbox.store.content(entry_uuid)) for entry_uuid, unique_id in rows]
    finally:
        sandbox.stop()


def test_six_documents_two_per_persona(preloaded: list[tuple[str, bytes]]) -> None:
    assert len(preloaded) == len(demo.DEMO_PATIENTS) * 2 == 6


@pytest.mark.parametrize("index", range(6))
def test_each_preloaded_document_passes_the_xsd_and_the_schematrons(
    preloaded: list[tuple[str, bytes]], cda_validator: Any, index: int
) -> None:
    unique_id, cda = preloaded[index]
    report = cda_validator.validate(cda)
    assert report.is_valid, report.format()
    root = etree.fromstring(cda)
    assert root.find("h:id", NS).get("root") == unique_id  # the registry's uniqueId is the CDA's
    for path in ("h:setId", "h:versionNumber", "h:author", "h:custodian", "h:legalAuthenticator"):
        assert root.find(path, NS) is not None, path


def test_the_patients_carry_the_ins_traits_insi_returns() -> None:
    """The demo patients are the INSi sandbox's personas, traits included (R28: a document carries the INS with the
    traits of the qualified identity)."""
    listed = json.loads(PERSONAS.read_text(encoding="utf-8"))["personas"]
    personas = {p["matricule"] + p["key"]: p for p in listed if p.get("matricule")}
    for patient in demo.DEMO_PATIENTS:
        persona = personas[patient.ins]
        assert persona["oid"] == OID_INS_NIR_TEST
        assert (patient.birth_name, patient.given_names, patient.sex, patient.birthplace) == (
            persona["birth_name"],
            persona["given_names"],
            persona["sex"],
            persona["birthplace"],
        )
        assert patient.first_given_name == persona["given_names"].split()[0]
        assert patient.birth_date == persona["birth_date"].replace("-", "")
