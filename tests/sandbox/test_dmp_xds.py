"""DMP sandbox: ITI-41 feed and replace, ITI-18 queries, ITI-43 retrieve, ITI-57 updates, persistence, concurrency."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import replace

import pytest
import requests
from lxml import etree

from caducee.core.oids import OID_INS_NIR
from caducee.dmp import registry
from caducee.dmp.api import STATUS_APPROVED, STATUS_ARCHIVED, STATUS_DELETED, STATUS_DEPRECATED, DmpRejected
from caducee.documents import xds_codes as codes
from caducee.documents.xds import NS_LCM, NS_RIM, XdsAuthor
from caducee.documents.xds_codes import XdsCode
from caducee.sandbox.dmp import demo
from caducee.sandbox.dmp.service import DUPLICATE_SLOT
from tests.dmp.dmp_answers import xds_schema
from tests.sandbox.dmp_client import (
    DR_BERNARD,
    DR_MARTIN,
    Professional,
    SandboxClient,
    ins,
    sample_entry,
    submission,
)
from tests.sandbox.fixtures import dmp_state, start_test_dmp

OPEN = "101063417209334"
OTHER = "299991234567890"
CLOSED = "158115935021709"
NO_DMP = "135123306351281"
BLOCKED_ALL = "275029924305117"
RS = "{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}"


@pytest.fixture
def client(dmp_sandbox, insi_sandbox_session):
    session = requests.Session()
    yield SandboxClient(dmp_state(dmp_sandbox, insi_sandbox_session.data_dir), session=session)
    session.close()


def authorize(client: SandboxClient, matricule: str, pro: Professional = DR_MARTIN) -> None:
    assert b"<status>OK</status>" in client.td03(pro, ins(matricule)).raw


def feed(client: SandboxClient, matricule: str = OPEN, pro: Professional = DR_MARTIN, **entry_kwargs):
    entry = sample_entry(matricule, author=pro, **entry_kwargs)
    reply = client.submit(pro, [entry])
    assert reply.registry_status() == ("Success", []), reply.raw[:800]
    return entry


def find(client: SandboxClient, matricule: str = OPEN, pro: Professional = DR_MARTIN, **kwargs):
    reply = client.query(pro, ins(matricule), registry.find_documents_query(ins(matricule), **kwargs))
    assert reply.status == 200, reply.raw[:500]
    return registry.parse_adhoc_query_response(reply.body)[0]


def errors_of(reply) -> list[str]:
    return reply.registry_status()[1]


# ---------------------------------------------------------------------------------------------
# ITI-41


def test_feed_then_find_with_registry_identifiers(dmp_sandbox, client):
    entry = feed(client)  # feeding needs no authorization (SC.DMP/CONF.05)
    authorize(client, OPEN)
    reply = client.query(DR_MARTIN, ins(OPEN), registry.find_documents_query(ins(OPEN)))
    assert xds_schema().validate(reply.body), xds_schema().error_log
    documents = [d for d in registry.parse_adhoc_query_response(reply.body)[0] if d.unique_id == entry.unique_id]
    assert len(documents) == 1
    document = documents[0]
    assert document.entry_uuid.startswith("urn:uuid:") and document.logical_id == document.entry_uuid
    assert document.status == STATUS_APPROVED and document.version == 1
    assert (document.hash, document.size) == (entry.hash, entry.size)
    assert document.repository_unique_id and document.submission_time
    assert document.author_national_id == DR_MARTIN.national_id
    stored = dmp_sandbox.store.documents_by_unique_id(entry.unique_id)
    assert len(stored) == 1 and stored[0].patient == ins(OPEN)


def test_duplicate_same_hash_is_success_without_new_entry(dmp_sandbox, client):
    entry = feed(client)
    count = dmp_sandbox.store.count_documents()
    reply = client.submit(DR_MARTIN, [entry])
    assert reply.registry_status() == ("Success", [])
    slot = reply.body.find(f"{RS}ResponseSlotList/{{{NS_RIM}}}Slot")
    assert slot is not None and slot.get("name") == DUPLICATE_SLOT
    assert [v.text for v in slot.iter(f"{{{NS_RIM}}}Value")] == [entry.unique_id]
    warnings = registry.parse_registry_response(reply.body)[1]
    assert [(w.code, w.context) for w in warnings] == [(registry.DUPLICATE_SAME_HASH, entry.unique_id)]
    assert dmp_sandbox.store.count_documents() == count


def test_same_unique_id_other_content_is_refused(client):
    entry = feed(client)
    other = sample_entry(OPEN, unique_id=entry.unique_id, content=b"<ClinicalDocument>autre</ClinicalDocument>")
    assert errors_of(client.submit(DR_MARTIN, [other])) == ["XDSNonIdenticalHash"]


def test_same_unique_id_for_another_patient_is_refused(client):
    entry = feed(client)
    other = sample_entry(OTHER, unique_id=entry.unique_id)
    reply = client.submit(DR_MARTIN, [other])
    assert errors_of(reply) == ["XDSDuplicateUniqueIdInRegistry"]
    with pytest.raises(DmpRejected, match="déjà utilisé dans le DMP par un autre document"):
        registry.raise_registry_errors(reply.body)


@pytest.mark.parametrize("kwargs", [{"declared_hash": "0" * 40}, {"declared_size": 3}])
def test_declared_hash_or_size_must_match_the_document(client, kwargs):
    reply = client.submit(DR_MARTIN, [sample_entry(OPEN, **kwargs)])
    assert errors_of(reply) == ["XDSRepositoryMetadataError"]


def test_document_for_another_patient_than_the_vihf(client):
    reply = client.submit(DR_MARTIN, [sample_entry(OPEN)], patient=ins(OTHER))
    assert errors_of(reply) == ["XDSPatientIdDoesNotMatch"]


def test_class_code_outside_jdv_j57(client):
    reply = client.submit(DR_MARTIN, [sample_entry(OPEN, class_code=XdsCode("99", codes.CLASS_SYSTEM, "Technique"))])
    assert errors_of(reply) == ["XDSRegistryMetadataError"]
    assert "J57" in reply.body.find(f"{RS}RegistryErrorList/{RS}RegistryError").get("codeContext")


def test_format_and_confidentiality_outside_their_value_sets(client):
    bad_format = sample_entry(OPEN, format_code=XdsCode("urn:exemple:inconnu", codes.IHE_FORMAT_SYSTEM, "?"))
    assert errors_of(client.submit(DR_MARTIN, [bad_format])) == ["XDSRegistryMetadataError"]
    entry = sample_entry(OPEN)
    bad_conf = replace(entry, confidentiality=(XdsCode("SECRET", codes.HL7_CONFIDENTIALITY, "?"),))
    assert errors_of(client.submit(DR_MARTIN, [bad_conf])) == ["XDSRegistryMetadataError"]


def test_schema_invalid_request(client):
    def break_schema(request: etree._Element) -> None:
        objects = request.find(f"{{{NS_LCM}}}SubmitObjectsRequest/{{{NS_RIM}}}RegistryObjectList")
        etree.SubElement(objects, f"{{{NS_RIM}}}Intrus")

    reply = client.submit(DR_MARTIN, [sample_entry(OPEN)], mutate=break_schema)
    assert errors_of(reply) == ["XDSRegistryMetadataError"]
    assert "XSD" in reply.body.find(f"{RS}RegistryErrorList/{RS}RegistryError").get("codeContext")


def test_unsigned_lot_is_refused(client):
    reply = client.submit(DR_MARTIN, [sample_entry(OPEN)], sign_lot=False)
    assert errors_of(reply) == ["XDSRegistryMetadataError"]
    assert "non signé" in reply.body.find(f"{RS}RegistryErrorList/{RS}RegistryError").get("codeContext")


def test_lot_signature_over_other_documents_is_refused(client, monkeypatch):
    from caducee.dmp import xades

    real_sign = xades.sign_lot

    def sign_other(documents, key, cert, **kwargs):
        return real_sign({uid: b"autre contenu" for uid in documents}, key, cert, **kwargs)

    monkeypatch.setattr(xades, "sign_lot", sign_other)
    reply = client.submit(DR_MARTIN, [sample_entry(OPEN)])
    assert errors_of(reply) == ["XDSRegistryMetadataError"]
    assert "Signature du lot" in reply.body.find(f"{RS}RegistryErrorList/{RS}RegistryError").get("codeContext")


@pytest.mark.parametrize(("matricule", "code"), [(CLOSED, "DMP_FERME"), (NO_DMP, "DMP_INEXISTANT")])
def test_feed_closed_or_absent_dmp(client, matricule, code):
    assert errors_of(client.submit(DR_MARTIN, [sample_entry(matricule)])) == [code]


def test_feed_with_an_unknown_ins_oid_is_refused_the_nir_oid_accepted(client):
    entry = sample_entry(OPEN, oid="1.2.250.1.213.1.4.99")
    assert errors_of(client.submit(DR_MARTIN, [entry])) == ["XDSUnknownPatientId"]
    assert client.submit(DR_MARTIN, [sample_entry(OPEN, oid=OID_INS_NIR)]).registry_status() == ("Success", [])


def test_replacement_deprecates_the_old_entry(client):
    first = feed(client)
    authorize(client, OPEN)
    old = next(d for d in find(client) if d.unique_id == first.unique_id)
    second = sample_entry(OPEN, content=b"<ClinicalDocument>v2</ClinicalDocument>")
    assert client.submit(DR_MARTIN, [second], replaces=old.entry_uuid).registry_status() == ("Success", [])
    approved = {d.unique_id for d in find(client)}
    assert second.unique_id in approved and first.unique_id not in approved
    deprecated = find(client, statuses=(STATUS_DEPRECATED,))
    assert [d.entry_uuid for d in deprecated] == [old.entry_uuid]
    # A deprecated entry cannot be replaced again; another patient's entry neither.
    third = sample_entry(OPEN)
    assert errors_of(client.submit(DR_MARTIN, [third], replaces=old.entry_uuid)) == ["XDSRegistryMetadataError"]
    feed(client, OTHER)
    authorize(client, OTHER)
    foreign = find(client, OTHER)[0]
    assert errors_of(client.submit(DR_MARTIN, [sample_entry(OPEN)], replaces=foreign.entry_uuid)) == [
        "XDSPatientIdDoesNotMatch"
    ]


# ---------------------------------------------------------------------------------------------
# ITI-18


def test_consultation_needs_a_valid_authorization(client):
    feed(client)
    reply = client.query(DR_MARTIN, ins(OPEN), registry.find_documents_query(ins(OPEN)))
    assert errors_of(reply) == ["DMP_ACCES_INTERDIT"]
    with pytest.raises(Exception) as error:
        registry.parse_adhoc_query_response(reply.body)
    assert getattr(error.value, "code", "") == "DMP_ACCES_INTERDIT"
    blocked = client.query(DR_MARTIN, ins(BLOCKED_ALL), registry.find_documents_query(ins(BLOCKED_ALL)))
    assert errors_of(blocked) == ["DMP_ACCES_INTERDIT"]


def test_td31b_finds_the_callers_own_documents_by_unique_id_without_authorization(client):
    """TD3.1b (notes §1.2): an LPS that only feeds finds the entryUUID of what it fed, to replace it."""
    mine = feed(client)
    theirs = feed(client, pro=DR_BERNARD)
    query = registry.get_documents_query(unique_ids=[mine.unique_id, theirs.unique_id])
    found = registry.parse_adhoc_query_response(client.query(DR_MARTIN, ins(OPEN), query).body)[0]
    assert [d.unique_id for d in found] == [mine.unique_id]  # a colleague's document stays out of reach
    by_uuid = registry.get_documents_query(entry_uuids=[found[0].entry_uuid])
    assert errors_of(client.query(DR_MARTIN, ins(OPEN), by_uuid)) == ["DMP_ACCES_INTERDIT"]


def test_masked_documents_are_returned_to_their_author_only(client):
    masked = feed(client, pro=DR_BERNARD, visibility=("MASQUE_PS",))
    visible = feed(client, pro=DR_BERNARD)
    authorize(client, OPEN, DR_MARTIN)
    authorize(client, OPEN, DR_BERNARD)
    seen_by_martin = {d.unique_id for d in find(client, pro=DR_MARTIN)}
    seen_by_bernard = {d.unique_id for d in find(client, pro=DR_BERNARD)}
    assert visible.unique_id in seen_by_martin and masked.unique_id not in seen_by_martin
    assert {visible.unique_id, masked.unique_id} <= seen_by_bernard


def test_find_documents_filters(client):
    old = feed(client, service_start="20200105")
    recent = feed(client, service_start="20261015120000")
    authorize(client, OPEN)
    found = {d.unique_id for d in find(client, service_start_from="20250101")}
    assert recent.unique_id in found and old.unique_id not in found
    by_class = client.query(
        DR_MARTIN,
        ins(OPEN),
        registry.adhoc_query(
            registry.FIND_DOCUMENTS,
            [
                ("$XDSDocumentEntryPatientId", registry.quoted(ins(OPEN))),
                ("$XDSDocumentEntryStatus", registry.quoted(STATUS_APPROVED)),
                ("$XDSDocumentEntryClassCode", registry.quoted(f"52^^{codes.CLASS_SYSTEM}")),
            ],
        ),
    )
    assert registry.parse_adhoc_query_response(by_class.body)[0] == []
    # The lot's signature document is never listed.
    assert all(d.class_code.code != "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1" for d in find(client))


def test_find_submission_sets_then_contents_and_get_documents(client):
    before = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).strftime("%Y%m%d%H%M%S")
    entry = feed(client)
    authorize(client, OPEN)
    reply = client.query(DR_MARTIN, ins(OPEN), registry.find_submission_sets_query(ins(OPEN), before))
    sets = registry.parse_adhoc_query_response(reply.body)[1]
    assert len(sets) == 1
    later = client.query(DR_MARTIN, ins(OPEN), registry.find_submission_sets_query(ins(OPEN), "20990101"))
    assert registry.parse_adhoc_query_response(later.body)[1] == []
    contents = client.query(DR_MARTIN, ins(OPEN), registry.get_submission_set_and_contents_query(sets[0].entry_uuid))
    assert xds_schema().validate(contents.body), xds_schema().error_log
    documents, same_sets = registry.parse_adhoc_query_response(contents.body)
    assert [d.unique_id for d in documents] == [entry.unique_id]
    assert documents[0].submission_time == sets[0].submission_time and same_sets == sets
    by_uid = client.query(DR_MARTIN, ins(OPEN), registry.get_documents_query(unique_ids=[entry.unique_id]))
    by_uuid = client.query(DR_MARTIN, ins(OPEN), registry.get_documents_query(entry_uuids=[documents[0].entry_uuid]))
    assert [d.entry_uuid for d in registry.parse_adhoc_query_response(by_uid.body)[0]] == [documents[0].entry_uuid]
    assert [d.unique_id for d in registry.parse_adhoc_query_response(by_uuid.body)[0]] == [entry.unique_id]
    # Another patient's entry is not returned through this patient's VIHF.
    authorize(client, OTHER)
    other = client.query(DR_MARTIN, ins(OTHER), registry.get_documents_query(unique_ids=[entry.unique_id]))
    assert registry.parse_adhoc_query_response(other.body)[0] == []


# ---------------------------------------------------------------------------------------------
# ITI-43


def test_retrieve_document_mtom(client):
    entry = feed(client, content=b"<ClinicalDocument>" + bytes(range(256)) * 40 + b"</ClinicalDocument>")
    authorize(client, OPEN)
    document = next(d for d in find(client) if d.unique_id == entry.unique_id)
    reply = client.retrieve(
        DR_MARTIN, ins(OPEN), registry.retrieve_request(document.repository_unique_id, entry.unique_id)
    )
    assert reply.parts, "MTOM answer expected"
    assert registry.parse_retrieve_response(reply.body, reply.parts, document) == entry.content
    missing = client.retrieve(DR_MARTIN, ins(OPEN), registry.retrieve_request(document.repository_unique_id, "1.2.3.4"))
    assert errors_of(missing) == ["XDSMissingDocument"]
    unknown_repo = client.retrieve(DR_MARTIN, ins(OPEN), registry.retrieve_request("9.9.9", entry.unique_id))
    assert errors_of(unknown_repo) == ["XDSUnknownRepositoryId"]
    client.td03(DR_MARTIN, ins(OPEN), "SUPPRESSION")
    refused = client.retrieve(
        DR_MARTIN, ins(OPEN), registry.retrieve_request(document.repository_unique_id, entry.unique_id)
    )
    assert errors_of(refused) == ["DMP_ACCES_INTERDIT"]


# ---------------------------------------------------------------------------------------------
# ITI-57


def _author(pro: Professional) -> XdsAuthor:
    return XdsAuthor(person=pro.xcn)


def test_mask_creates_a_new_metadata_version(client):
    entry = feed(client)
    authorize(client, OPEN)
    v1 = next(d for d in find(client) if d.unique_id == entry.unique_id)
    body = registry.update_metadata_request(
        v1, ("N", "MASQUE_PS"), patient_id=ins(OPEN), submission=submission(), author=_author(DR_MARTIN)
    )
    assert client.update(DR_MARTIN, ins(OPEN), body).registry_status() == ("Success", [])
    v2 = next(d for d in find(client) if d.unique_id == entry.unique_id)
    assert v2.entry_uuid != v1.entry_uuid and v2.logical_id == v1.logical_id and v2.version == 2
    assert v2.confidentiality == ("N", "MASQUE_PS")
    assert [d.entry_uuid for d in find(client, statuses=(STATUS_DEPRECATED,))] == [v1.entry_uuid]
    # Still the same content; a stale version is refused.
    stale = registry.update_metadata_request(
        v1, ("N",), patient_id=ins(OPEN), submission=submission(), author=_author(DR_MARTIN)
    )
    assert errors_of(client.update(DR_MARTIN, ins(OPEN), stale)) == ["XDSMetadataVersionError"]
    # Masked: dr.bernard (authorized) no longer sees it.
    authorize(client, OPEN, DR_BERNARD)
    assert entry.unique_id not in {d.unique_id for d in find(client, pro=DR_BERNARD)}
    # Deleting the document deletes every metadata version.
    body = registry.update_status_request(
        v2, STATUS_DELETED, patient_id=ins(OPEN), submission=submission(), author=_author(DR_MARTIN)
    )
    assert client.update(DR_MARTIN, ins(OPEN), body).registry_status() == ("Success", [])
    by_uid = client.query(DR_MARTIN, ins(OPEN), registry.get_documents_query(unique_ids=[entry.unique_id]))
    assert registry.parse_adhoc_query_response(by_uid.body)[0] == []


def test_delete_by_the_author_only_and_archive(client):
    entry = feed(client, pro=DR_BERNARD)
    authorize(client, OPEN, DR_MARTIN)
    document = next(d for d in find(client) if d.unique_id == entry.unique_id)

    def status_update(pro: Professional, doc, new: str):
        body = registry.update_status_request(
            doc, new, patient_id=ins(OPEN), submission=submission(), author=_author(pro)
        )
        return client.update(pro, ins(OPEN), body)

    assert errors_of(status_update(DR_MARTIN, document, STATUS_DELETED)) == ["DMP_AUTEUR_REQUIS"]
    assert status_update(DR_MARTIN, document, STATUS_ARCHIVED).registry_status() == ("Success", [])
    assert entry.unique_id not in {d.unique_id for d in find(client)}
    archived = [d for d in find(client, statuses=(STATUS_APPROVED, STATUS_ARCHIVED)) if d.unique_id == entry.unique_id]
    assert [d.status for d in archived] == [STATUS_ARCHIVED]
    assert status_update(DR_MARTIN, archived[0], STATUS_APPROVED).registry_status() == ("Success", [])
    # Wrong original status → refused; deletion by the author, no authorization needed (TD3.3c NB1).
    assert errors_of(status_update(DR_BERNARD, archived[0], STATUS_DELETED)) == ["XDSMetadataUpdateError"]
    assert status_update(DR_BERNARD, document, STATUS_DELETED).registry_status() == ("Success", [])
    everything = (STATUS_APPROVED, STATUS_ARCHIVED, STATUS_DEPRECATED, STATUS_DELETED)
    assert entry.unique_id not in {d.unique_id for d in find(client, statuses=everything)}


# ---------------------------------------------------------------------------------------------
# Persistence, concurrency, demo


def test_documents_survive_a_restart(insi_sandbox_session, tmp_path):
    database = tmp_path / "persist.sqlite3"
    first = start_test_dmp(insi_sandbox_session.data_dir, database)
    try:
        client = SandboxClient(dmp_state(first, insi_sandbox_session.data_dir))
        entry = feed(client)
        authorize(client, OPEN)
    finally:
        first.stop()
    second = start_test_dmp(insi_sandbox_session.data_dir, database)
    try:
        client = SandboxClient(dmp_state(second, insi_sandbox_session.data_dir))
        assert entry.unique_id in {d.unique_id for d in find(client)}  # authorization kept too
    finally:
        second.stop()


def test_concurrent_feeding_without_duplicates(dmp_sandbox, insi_sandbox_session):
    state = dmp_state(dmp_sandbox, insi_sandbox_session.data_dir)
    shared = sample_entry(OPEN)  # resent by every thread: registered once
    failures: list[str] = []
    before = dmp_sandbox.store.count_documents()

    def worker(index: int) -> None:
        client = SandboxClient(state)
        for n in range(5):
            entries = [shared] if n == 0 else [sample_entry(OPEN)]
            status = client.submit(DR_MARTIN, entries).registry_status()
            if status != ("Success", []):
                failures.append(f"{index}/{n}: {status}")

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started
    assert failures == []
    assert len(dmp_sandbox.store.documents_by_unique_id(shared.unique_id)) == 1
    # 1 shared + 8 × 4 new documents, each with its lot signature document.
    assert dmp_sandbox.store.count_documents() - before == (1 + 32) * 2
    assert elapsed < 30


def test_demo_documents_preloaded_once_and_fast(dmp_sandbox, client):
    authorize(client, OPEN)
    titles = {d.title for d in find(client)}
    assert {"Compte rendu d'hospitalisation", "Compte rendu d'examens biologiques"} <= titles
    documents = [d for d in find(client) if d.title == "Compte rendu d'hospitalisation"]
    reply = client.retrieve(
        DR_MARTIN, ins(OPEN), registry.retrieve_request(documents[0].repository_unique_id, documents[0].unique_id)
    )
    cda = registry.parse_retrieve_response(reply.body, reply.parts, documents[0])
    assert b"<nonXMLBody>" in cda and b"34133-9" in cda
    assert documents[0].author_institution.startswith("CHU DE DEMONSTRATION")
    assert demo.preload(dmp_sandbox.server.service) == 0  # the store is not empty any more


def test_demo_generation_is_fast(tmp_path, insi_sandbox_session):
    started = time.monotonic()
    sandbox = start_test_dmp(insi_sandbox_session.data_dir, tmp_path / "demo.sqlite3")
    try:
        assert sandbox.store.count_documents() == len(demo.DEMO_PATIENTS) * 2
    finally:
        sandbox.stop()
    assert time.monotonic() - started < 2
