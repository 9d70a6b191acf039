"""ITI-18/43/57 bodies and RegistryResponse (src/caducee/dmp/registry.py): every request XSD-valid; the answers read
are written by tests/dmp/dmp_answers.py (from the specifications, or the DMP sandbox's own builders)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import replace

import pytest
from lxml import etree

from caducee.dmp import registry
from caducee.dmp.api import STATUS_APPROVED, STATUS_DELETED, DmpDocument, DmpInvalidResponse, DmpRejected
from caducee.documents import xds_codes as codes
from caducee.documents.xds import SubmissionInfo, XdsAuthor
from tests.dmp.dmp_answers import (
    adhoc_query_response,
    query_params,
    registry_response,
    retrieve_response,
    unquoted,
    xds_schema,
)

INS = "162018885045327^^^&1.2.250.1.213.1.4.10&ISO^NH"
NS = registry.NSMAP
CONTENT = b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>"
SUBMISSION = SubmissionInfo("2.25.1", "2.25.2", dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC))
AUTHOR = XdsAuthor("899700367909^MEDECIN^Anne^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")


def document(**overrides: object) -> DmpDocument:
    values: dict[str, object] = {
        "entry_uuid": "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001",
        "unique_id": "1.2.250.1.999.1.1^9",
        "logical_id": "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001",
        "repository_unique_id": "1.2.250.1.213.1.1.1.1",
        "status": STATUS_APPROVED,
        "title": "Compte rendu « spécial » & <test>",
        "type_code": codes.XdsCode("11488-4", "2.16.840.1.113883.6.1", "CR de consultation"),
        "class_code": codes.CLASS_REPORT,
        "format_code": codes.FORMAT_N1_PDF,
        "confidentiality": ("N", "MASQUE_PS"),
        "author_person": AUTHOR.person,
        "author_institution": "MSP^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1690099991",
        "creation_time": "20260301090000",
        "service_start_time": "20260301090000",
        "submission_time": "20260301100000",
        "mime_type": "text/xml",
        "hash": hashlib.sha1(CONTENT).hexdigest(),  # noqa: S324
        "size": len(CONTENT),
        "version": 2,
    }
    values.update(overrides)
    return DmpDocument(**values)  # type: ignore[arg-type]


def assert_valid(node: etree._Element) -> None:
    schema = xds_schema()
    assert schema.validate(node), schema.error_log


def reparse(node: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(node))


def test_find_documents_query_is_valid_and_quoted() -> None:
    query = registry.find_documents_query(INS, (STATUS_APPROVED, "urn:x:l'autre"), "20240301")
    assert_valid(query)
    query_id, params = query_params(reparse(query))
    assert query_id == registry.FIND_DOCUMENTS
    assert params["$XDSDocumentEntryPatientId"] == [INS]
    assert params["$XDSDocumentEntryStatus"] == [STATUS_APPROVED, "urn:x:l'autre"]
    assert params["$XDSDocumentEntryServiceStartTimeFrom"] == ["20240301"]
    values = query.xpath("//rim:Slot[@name='$XDSDocumentEntryStatus']//rim:Value/text()", namespaces=NS)
    assert values == [f"('{STATUS_APPROVED}','urn:x:l''autre')"]
    assert query.find("query:ResponseOption", NS).get("returnType") == "LeafClass"


def test_other_queries_are_valid() -> None:
    for query, query_id, param in (
        (registry.find_submission_sets_query(INS, "20260101"), registry.FIND_SUBMISSION_SETS,
         "$XDSSubmissionSetPatientId"),
        (registry.get_submission_set_and_contents_query("urn:uuid:1"), registry.GET_SUBMISSION_SET_AND_CONTENTS,
         "$XDSSubmissionSetEntryUUID"),
        (registry.get_documents_query(entry_uuids=["urn:uuid:1", "urn:uuid:2"]), registry.GET_DOCUMENTS,
         "$XDSDocumentEntryEntryUUID"),
        (registry.get_documents_query(unique_ids=["1.2^3"]), registry.GET_DOCUMENTS, "$XDSDocumentEntryUniqueId"),
    ):  # fmt: skip
        assert_valid(query)
        got_id, params = query_params(reparse(query))
        assert got_id == query_id and param in params
    with pytest.raises(ValueError):
        registry.get_documents_query()


def test_document_entry_round_trip_and_validity() -> None:
    doc = document()
    response = adhoc_query_response([doc], patient_id=INS)
    assert_valid(response)
    documents, sets = registry.parse_adhoc_query_response(reparse(response))
    assert documents == [doc] and sets == []
    assert documents[0].author_national_id == "899700367909"


def test_submission_sets_and_their_time() -> None:
    ss = registry.SubmissionSetRef("urn:uuid:ss-1", "2.25.7", "20260302080000")
    doc = document(submission_time="")
    response = adhoc_query_response(
        [doc],
        patient_id=INS,
        submission_sets=[(ss.entry_uuid, ss.unique_id, ss.submission_time)],
        members=[(ss.entry_uuid, doc.entry_uuid)],
    )
    assert_valid(response)
    documents, sets = registry.parse_adhoc_query_response(reparse(response))
    assert sets == [ss]
    assert documents[0].submission_time == "20260302080000"


def test_query_failure_is_a_rejection_with_a_french_message() -> None:
    response = registry_response(registry.FAILURE, [("DMP_ACCES_INTERDIT", "pas d'autorisation")])
    failing = etree.Element(f"{{{registry.NS_QUERY}}}AdhocQueryResponse", status=registry.FAILURE)
    failing.append(response.find("rs:RegistryErrorList", NS))
    with pytest.raises(DmpRejected, match="accès au DMP refusé") as caught:
        registry.parse_adhoc_query_response(reparse(failing))
    assert caught.value.code == "DMP_ACCES_INTERDIT"


@pytest.mark.parametrize(
    "xml",
    [
        b'<AdhocQueryResponse xmlns="urn:autre" status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/>',
        b'<q:AdhocQueryResponse xmlns:q="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" status="OK"/>',
    ],
)
def test_query_response_wrong_namespace_or_status(xml: bytes) -> None:
    with pytest.raises(DmpInvalidResponse):
        registry.parse_adhoc_query_response(etree.fromstring(xml))


def test_entry_without_unique_id_or_with_bad_size_is_invalid() -> None:
    response = adhoc_query_response([document()], patient_id=INS)
    eo = response.find(".//rim:ExtrinsicObject", NS)
    eo.remove(eo.find(f"rim:ExternalIdentifier[@identificationScheme='{codes.DE_UNIQUE_ID}']", NS))
    with pytest.raises(DmpInvalidResponse, match="identifiant"):
        registry.parse_adhoc_query_response(reparse(response))
    response = adhoc_query_response([document()], patient_id=INS)
    response.find(".//rim:Slot[@name='size']/rim:ValueList/rim:Value", NS).text = "beaucoup"
    with pytest.raises(DmpInvalidResponse, match="taille"):
        registry.parse_adhoc_query_response(reparse(response))


def test_retrieve_request_and_response() -> None:
    doc = document()
    request = registry.retrieve_request(doc.repository_unique_id, doc.unique_id)
    assert_valid(request)
    items = request.findall("xdsb:DocumentRequest", NS)
    assert [(i.findtext("xdsb:RepositoryUniqueId", namespaces=NS), i.findtext("xdsb:DocumentUniqueId", namespaces=NS))
            for i in items] == [(doc.repository_unique_id, doc.unique_id)]  # fmt: skip
    answer = retrieve_response([(doc.repository_unique_id, doc.unique_id, "text/xml", "doc1@dmp")])
    assert registry.parse_retrieve_response(reparse(answer), {"doc1@dmp": CONTENT}, doc) == CONTENT
    with pytest.raises(DmpInvalidResponse, match="empreinte"):
        registry.parse_retrieve_response(reparse(answer), {"doc1@dmp": CONTENT + b" "}, doc)
    with pytest.raises(DmpInvalidResponse, match="pièce jointe"):
        registry.parse_retrieve_response(reparse(answer), {}, doc)
    with pytest.raises(DmpInvalidResponse, match="pas renvoyé"):
        registry.parse_retrieve_response(reparse(answer), {}, replace(doc, unique_id="1.2.3"))


def test_retrieve_inline_base64_and_failure() -> None:
    doc = document()
    answer = retrieve_response([(doc.repository_unique_id, doc.unique_id, "text/xml", "x")])
    node = answer.find(".//xdsb:Document", NS)
    node.remove(node[0])
    node.text = base64.b64encode(CONTENT).decode()
    assert_valid(answer)
    assert registry.parse_retrieve_response(reparse(answer), {}, doc) == CONTENT
    failing = retrieve_response([], errors=[("XDSDocumentUniqueIdError", doc.unique_id)])
    with pytest.raises(DmpRejected) as caught:
        registry.parse_retrieve_response(reparse(failing), {}, doc)
    assert caught.value.code == "XDSDocumentUniqueIdError"


def test_update_metadata_request_is_a_new_version() -> None:
    doc = document()
    request = registry.update_metadata_request(
        doc, ["N", "INVISIBLE_PATIENT"], patient_id=INS, submission=SUBMISSION, author=AUTHOR
    )
    assert_valid(request)
    eo = request.find(".//rim:ExtrinsicObject", NS)
    assert eo.get("lid") == doc.logical_id and eo.get("id") == "Document01"
    confidentiality = eo.xpath(
        f"rim:Classification[@classificationScheme='{codes.DE_CONFIDENTIALITY_CODE}']/@nodeRepresentation",
        namespaces=NS,
    )
    assert confidentiality == ["N", "INVISIBLE_PATIENT"]
    (association,) = request.xpath("//rim:Association", namespaces=NS)
    assert association.get("associationType") == codes.HAS_MEMBER
    assert association.xpath("rim:Slot[@name='PreviousVersion']//rim:Value/text()", namespaces=NS) == ["2"]
    package = request.find(".//rim:RegistryPackage", NS)
    assert package.xpath(
        f"rim:ExternalIdentifier[@identificationScheme='{codes.SS_PATIENT_ID}']/@value", namespaces=NS
    ) == [INS]
    with pytest.raises(ValueError):
        registry.update_metadata_request(doc, ["SECRET"], patient_id=INS, submission=SUBMISSION, author=AUTHOR)


def test_update_status_request() -> None:
    doc = document()
    request = registry.update_status_request(doc, STATUS_DELETED, patient_id=INS, submission=SUBMISSION, author=AUTHOR)
    assert_valid(request)
    update = request.find(f".//rim:Association[@associationType='{registry.UPDATE_AVAILABILITY}']", NS)
    assert update.get("targetObject") == doc.entry_uuid
    assert update.xpath("rim:Slot[@name='OriginalStatus']//rim:Value/text()", namespaces=NS) == [STATUS_APPROVED]
    assert update.xpath("rim:Slot[@name='NewStatus']//rim:Value/text()", namespaces=NS) == [STATUS_DELETED]
    member = request.find(f".//rim:Association[@associationType='{codes.HAS_MEMBER}']", NS)
    assert member.get("targetObject") == update.get("id")


def test_registry_response_statuses() -> None:
    assert registry.parse_registry_response(reparse(registry_response(registry.SUCCESS))) == (registry.SUCCESS, [])
    duplicate = registry.RegistryError(registry.DUPLICATE_SAME_HASH, "1.2^3", registry.SEVERITY_WARNING)
    status, warnings = registry.parse_registry_response(
        reparse(registry_response(registry.SUCCESS, warnings=[(duplicate.code, duplicate.context)]))
    )
    assert status == registry.SUCCESS and warnings == [duplicate]
    partial = registry_response(registry.PARTIAL, [("XDSRegistryMetadataError", "x")])
    assert registry.parse_registry_response(reparse(partial))[0] == registry.PARTIAL
    for code, words in (("XDSNonIdenticalHash", "document différent"), ("DMP_AUTEUR_REQUIS", "auteur"), ("ZZZ", "ZZZ")):
        with pytest.raises(DmpRejected, match=words) as caught:
            registry.parse_registry_response(reparse(registry_response(registry.FAILURE, [(code, "ctx")])))
        assert caught.value.code == code
    with pytest.raises(DmpRejected, match="sans en donner"):
        registry.parse_registry_response(reparse(registry_response(registry.FAILURE)))
    with pytest.raises(DmpInvalidResponse):
        registry.parse_registry_response(etree.fromstring(b"<RegistryResponse status='x'/>"))


def test_unquoted_is_the_reverse_of_quoted() -> None:
    for values in (["a"], ["a", "b'c", "d,e"], ["("]):
        assert unquoted(registry.quoted(*values)) == values
