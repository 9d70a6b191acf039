"""DmpClient against the DMP sandbox (caducee.sandbox.dmp): every transaction through the product's client, over the
sandbox's mutual TLS, VIHF checks and XAdES verification; injected failures map to the client's errors."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from caducee.dmp import client as client_module
from caducee.dmp.api import (
    STATUS_APPROVED,
    STATUS_ARCHIVED,
    STATUS_DELETED,
    STATUS_DEPRECATED,
    DmpCaller,
    DmpInvalidResponse,
    DmpRejected,
    DmpUnavailable,
)
from caducee.dmp.client import DmpClient, dmp_client
from caducee.dmp.endpoint import DmpEndpoint
from caducee.sandbox.dmp.server import DmpSandbox
from tests.sandbox.dmp_client import DR_BERNARD, DR_MARTIN, Professional, ins, sample_entry, submission
from tests.sandbox.fixtures import dmp_sandbox, dmp_state  # noqa: F401

OPEN = "101063417209334"  # open DMP (tests/sandbox/test_dmp_sandbox.py personas)
CLOSED = "158115935021709"
NO_DMP = "135123306351281"
BLOCKED_BERNARD = "101093155542875"


def caller(pro: Professional) -> DmpCaller:
    return DmpCaller(
        national_id=pro.national_id,
        name=pro.name,
        profession=pro.role,
        specialty=pro.specialty,
        structure_id=pro.structure_id,
        sector=pro.sector,
        auth_mode=pro.auth_mode,
    )


MARTIN, BERNARD = caller(DR_MARTIN), caller(DR_BERNARD)


@pytest.fixture
def state(dmp_sandbox: DmpSandbox, insi_sandbox_session: Any) -> dict[str, str]:  # noqa: F811
    """What this test's DMP sandbox publishes: its URL, CA and the structure's certificates it issued."""
    return dmp_state(dmp_sandbox, insi_sandbox_session.data_dir)


def endpoint_of(state: dict[str, str]) -> DmpEndpoint:
    return DmpEndpoint(
        url=state["url"],
        client_cert=Path(state["client_cert"]),
        client_key=Path(state["client_key"]),
        sign_cert=Path(state["sign_cert"]),
        sign_key=Path(state["sign_key"]),
        ca_bundle=Path(state["ca"]),
    )


@pytest.fixture
def dmp(state: dict[str, str]) -> Iterator[DmpClient]:
    client = DmpClient(endpoint_of(state), timeout=5)
    yield client
    client.close()


def test_factory_finds_the_sandbox_from_the_settings(state: dict[str, str], settings: Any) -> None:
    settings.DMP_URL, settings.DMP_CA_BUNDLE = state["url"], state["ca"]
    settings.DMP_AUTH_CERT, settings.DMP_AUTH_KEY = state["client_cert"], state["client_key"]
    settings.DMP_SIGN_CERT, settings.DMP_SIGN_KEY = state["sign_cert"], state["sign_key"]
    client_module._clients.clear()
    try:
        assert dmp_client().test_existence(MARTIN, ins(OPEN)).exists
    finally:
        client_module._clients.clear()


def test_td02_and_td03(dmp: DmpClient) -> None:
    status = dmp.test_existence(MARTIN, ins(OPEN))
    assert status.exists and status.active
    after = dmp.set_authorization(MARTIN, ins(OPEN))
    assert after.may_consult and after.authorization_until is not None
    closed = dmp.test_existence(MARTIN, ins(CLOSED))
    assert closed.exists and not closed.active
    assert not dmp.test_existence(MARTIN, ins(NO_DMP)).exists
    blocked = dmp.set_authorization(BERNARD, ins(BLOCKED_BERNARD))
    assert blocked.authorization == "INTERDITE" and not blocked.may_consult


def test_feed_search_retrieve_update_delete(dmp: DmpClient) -> None:
    patient = ins(OPEN)
    dmp.set_authorization(MARTIN, patient)
    entry = sample_entry(OPEN)
    result = dmp.provide_and_register(MARTIN, [entry], submission())
    assert result.document_unique_ids == (entry.unique_id,) and not result.already_registered
    assert dmp.provide_and_register(MARTIN, [entry], submission()).already_registered
    with pytest.raises(DmpRejected) as caught:
        other = sample_entry(OPEN, unique_id=entry.unique_id, content=b"<autre/>")
        dmp.provide_and_register(MARTIN, [other], submission())
    assert caught.value.code == "XDSNonIdenticalHash"

    found = dmp.find_by_unique_id(MARTIN, patient, entry.unique_id)
    assert found is not None and found.status == STATUS_APPROVED and found.hash == entry.hash
    assert entry.unique_id in {d.unique_id for d in dmp.find_documents(MARTIN, patient)}
    assert entry.unique_id in {d.unique_id for d in dmp.find_documents(MARTIN, patient, service_start_from="20200101")}
    new = dmp.find_new_documents(MARTIN, patient, submitted_from="20200101000000")
    assert entry.unique_id in {d.unique_id for d in new}
    assert dmp.retrieve(MARTIN, patient, found) == entry.content

    masked = dmp.update_confidentiality(MARTIN, patient, found, ["N", "MASQUE_PS"])
    assert "MASQUE_PS" in masked.confidentiality and masked.logical_id == found.logical_id
    assert masked.entry_uuid != found.entry_uuid
    dmp.update_status(MARTIN, patient, masked, STATUS_ARCHIVED)
    archived = dmp.find_by_unique_id(MARTIN, patient, entry.unique_id)
    assert archived is not None and archived.status == STATUS_ARCHIVED
    with pytest.raises(DmpRejected):
        dmp.update_status(BERNARD, patient, archived, STATUS_DELETED)  # only the author deletes
    dmp.update_status(MARTIN, patient, archived, STATUS_DELETED)
    assert entry.unique_id not in {
        d.unique_id for d in dmp.find_documents(MARTIN, patient, statuses=(STATUS_APPROVED, STATUS_ARCHIVED))
    }
    # The sandbox hides the Deleted version but still returns the older, Deprecated metadata version.
    gone = dmp.find_by_unique_id(MARTIN, patient, entry.unique_id)
    assert gone is None or gone.status == STATUS_DEPRECATED


def test_replacement(dmp: DmpClient) -> None:
    patient = ins(OPEN)
    dmp.set_authorization(MARTIN, patient)
    first = sample_entry(OPEN)
    dmp.provide_and_register(MARTIN, [first], submission())
    old = dmp.find_by_unique_id(MARTIN, patient, first.unique_id)
    assert old is not None
    second = sample_entry(OPEN, content=b"<ClinicalDocument>v2</ClinicalDocument>")
    dmp.provide_and_register(MARTIN, [second], submission(), replaces=old.entry_uuid)
    replaced = dmp.find_by_unique_id(MARTIN, patient, first.unique_id)
    assert replaced is not None and replaced.status == STATUS_DEPRECATED
    assert dmp.find_by_unique_id(MARTIN, patient, second.unique_id) is not None


@pytest.mark.parametrize(
    ("kind", "error"),
    [("http_503", DmpUnavailable), ("receiver_fault", DmpUnavailable), ("garbage", DmpInvalidResponse),
     ("drop_connection", DmpUnavailable)],
)  # fmt: skip
def test_injected_failures(dmp: DmpClient, dmp_sandbox: DmpSandbox, kind: str, error: type) -> None:  # noqa: F811
    dmp_sandbox.fail_next(1, kind)
    with pytest.raises(error):
        dmp.test_existence(MARTIN, ins(OPEN))
    assert dmp.test_existence(MARTIN, ins(OPEN)).exists  # recovers


def test_slow_answer_times_out(state: dict[str, str], dmp_sandbox: DmpSandbox) -> None:  # noqa: F811
    hasty = DmpClient(endpoint_of(state), timeout=0.5)
    dmp_sandbox.fail_next(1, "slow", delay_seconds=5)
    with pytest.raises(DmpUnavailable, match="à temps"):
        hasty.test_existence(MARTIN, ins(OPEN))


def test_vihf_refused_is_a_rejection(dmp: DmpClient) -> None:
    anonymous = dataclasses.replace(MARTIN, national_id=f"8{uuid.uuid4().int % 10**10}", structure_id="")
    with pytest.raises(DmpRejected):
        dmp.test_existence(anonymous, ins(OPEN))
