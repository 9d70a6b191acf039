"""DmpClient over a real socket (src/caducee/dmp/client.py): a tiny mutual-TLS DMP answers every transaction with
answers the client never built (tests/dmp/dmp_answers.py: the DMP sandbox's builders and XML written from the
specifications); hostile and failing servers map to the right errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from lxml import etree
from signxml import XMLVerifier

from caducee.dmp import client as client_module
from caducee.dmp import mtom, registry, vihf, xades
from caducee.dmp.api import (
    STATUS_APPROVED,
    STATUS_ARCHIVED,
    STATUS_DEPRECATED,
    DmpCaller,
    DmpDocument,
    DmpInvalidResponse,
    DmpRejected,
    DmpUnavailable,
)
from caducee.dmp.client import DmpClient, dmp_client
from caducee.dmp.endpoint import DmpEndpoint
from caducee.documents.xds import NS_RIM, NS_XDSB, SubmissionInfo
from caducee.sandbox.dmp import hl7v3 as dmp_side
from caducee.sandbox.dmp.signature import verify_lot_signature
from tests.dmp.dmp_answers import (
    adhoc_query_response,
    envelope,
    fault,
    query_params,
    registry_response,
    retrieve_response,
    td02_answer,
    td03_answer,
)
from tests.dmp.test_xades import Issued, entry, issue

INS = "162018885045327^^^&1.2.250.1.213.1.4.10&ISO^NH"
REPOSITORY = "1.2.250.1.213.1.1.9.1"
CALLER = DmpCaller(
    national_id="899700367909",
    name="Anne MEDECIN",
    profession="10",
    specialty="SM54",
    structure_id="3690099991",
    sector="SA07",
)
Answer = tuple[int, str, bytes]
NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SubmissionSet = tuple[str, str, str]  # entryUUID, uniqueId, submissionTime


@dataclasses.dataclass(frozen=True)
class Request:
    """What the mini DMP reads of a request: its WS-Addressing header, VIHF and body."""

    action: str
    message_id: str
    assertion: etree._Element | None
    body: etree._Element


def read_request(xml: bytes) -> Request:
    root = etree.fromstring(xml)
    header, body = root.find(f"{{{NS_SOAP}}}Header"), root.find(f"{{{NS_SOAP}}}Body")
    assert header is not None and body is not None
    return Request(
        action=header.findtext(f"{{{NS_WSA}}}Action") or "",
        message_id=header.findtext(f"{{{NS_WSA}}}MessageID") or "",
        assertion=header.find(f"{{{NS_WSSE}}}Security/{{{vihf.NS_SAML}}}Assertion"),
        body=body[0],
    )


class MiniDmp:
    """Just enough of a DMP to exercise every transaction of the client (the real stand-in is caducee.sandbox.dmp)."""

    def __init__(self, ca_pem: bytes) -> None:
        self.ca_pem = ca_pem
        self.documents: dict[str, tuple[DmpDocument, bytes]] = {}  # entry_uuid → (entry, content)
        self.sets: list[tuple[SubmissionSet, list[str]]] = []
        self.authorization = "ABSENTE"
        self.assertions: list[etree._Element] = []
        self.override: Callable[[str, bytes], Answer | None] | None = None
        self.ports: set[int] = set()

    def answer(self, path: str, content_type: str, body: bytes) -> Answer:
        if self.override and (forced := self.override(path, body)):
            return forced
        root, parts = mtom.decode(content_type, body)
        message = read_request(root)
        assert message.assertion is not None
        self.assertions.append(message.assertion)
        reply, attachments = getattr(self, "_" + message.action.rsplit(":", 1)[-1].replace("-", "_"))(message, parts)
        answer = envelope(reply, action=message.action + "Response", relates_to=message.message_id)
        if attachments:
            data, answer_type = mtom.encode(answer, attachments, action=message.action + "Response")
            return 200, answer_type, data
        return 200, mtom.soap_content_type(message.action + "Response"), answer

    def _PRPA_IN201307UV02(self, message: Request, parts: dict[str, bytes]) -> tuple[Any, list[Any]]:
        request_id, query_id, ins = dmp_side.parse_td02_request(message.body)
        if ins.startswith("000"):
            return td02_answer(request_id=request_id, query_id=query_id, ins=ins, exists=False), []
        end = dt.date.today() + dt.timedelta(days=180) if self.authorization == "VALIDE" else None
        answer = td02_answer(
            request_id=request_id,
            query_id=query_id,
            ins=ins,
            exists=True,
            authorization=self.authorization,
            authorization_until=end,
        )
        return answer, []

    def _setAuthorization(self, message: Request, parts: dict[str, bytes]) -> tuple[Any, list[Any]]:
        self.authorization = "VALIDE" if dmp_side.parse_td03_request(message.body) == "AJOUT" else "ABSENTE"
        return td03_answer(status="OK", authorization_end=dt.date.today() + dt.timedelta(days=180)), []

    def _ProvideAndRegisterDocumentSet_b(self, message: Request, parts: dict[str, bytes]) -> tuple[Any, list[Any]]:
        request = message.body
        contents = {}
        for node in request.iterfind(f"{{{NS_XDSB}}}Document"):
            cid = mtom.include_target(node)
            assert cid is not None and cid in parts  # MTOM: content as a part, never inline
            contents[node.get("id")] = parts[cid]
        objects = request.find(f".//{{{NS_RIM}}}RegistryObjectList")
        entries = [registry.parse_document_entry(eo) for eo in objects.iterfind(f"{{{NS_RIM}}}ExtrinsicObject")]
        signature_ids = [e.entry_uuid for e in entries if e.class_code == xades.SIGNATURE_CLASS]
        clinical = [e for e in entries if e.entry_uuid not in signature_ids]
        verify_lot_signature(
            contents[signature_ids[0]], {e.unique_id: contents[e.entry_uuid] for e in clinical}, self.ca_pem
        )
        now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        duplicates: list[tuple[str, str]] = []
        new_ids = []
        for e in clinical:
            content = contents[e.entry_uuid]
            known = [d for d, c in self.documents.values() if d.unique_id == e.unique_id]
            if known:
                if hashlib.sha1(content).hexdigest() != known[0].hash:  # noqa: S324
                    return registry_response(registry.FAILURE, [("XDSNonIdenticalHash", e.unique_id)]), []
                duplicates.append(("XDSDuplicateUniqueIdInRegistry", e.unique_id))
                continue
            entry_uuid = f"urn:uuid:{uuid.uuid4()}"
            stored = dataclasses.replace(
                e, entry_uuid=entry_uuid, logical_id=entry_uuid, status=STATUS_APPROVED,
                repository_unique_id=REPOSITORY, submission_time=now,
            )  # fmt: skip
            self.documents[entry_uuid] = (stored, content)
            new_ids.append(entry_uuid)
        for association in objects.iterfind(f"{{{NS_RIM}}}Association[@associationType='{registry.RPLC}']"):
            old, content = self.documents[association.get("targetObject")]
            self.documents[old.entry_uuid] = (dataclasses.replace(old, status=STATUS_DEPRECATED), content)
        if new_ids:
            self.sets.append(((f"urn:uuid:{uuid.uuid4()}", "2.25.9", now), new_ids))
        return registry_response(registry.SUCCESS, warnings=duplicates), []

    def _RegistryStoredQuery(self, message: Request, parts: dict[str, bytes]) -> tuple[Any, list[Any]]:
        query_id, params = query_params(message.body)
        docs = [d for d, _ in self.documents.values()]
        sets: list[SubmissionSet] = []
        members: list[tuple[str, str]] = []
        if query_id == registry.FIND_DOCUMENTS:
            docs = [d for d in docs if d.status in params["$XDSDocumentEntryStatus"]]
        elif query_id == registry.GET_DOCUMENTS:
            docs = [d for d in docs if d.unique_id in params["$XDSDocumentEntryUniqueId"]]
        elif query_id == registry.FIND_SUBMISSION_SETS:
            since = params["$XDSSubmissionSetSubmissionTimeFrom"][0]
            sets, docs = [s for s, _ in self.sets if s[2] >= since], []
        else:
            wanted = params["$XDSSubmissionSetEntryUUID"][0]
            (ss, ids), *_ = [(s, i) for s, i in self.sets if s[0] == wanted]
            sets, docs = [ss], [self.documents[i][0] for i in ids]
            members = [(ss[0], i) for i in ids]
        return adhoc_query_response(docs, patient_id=INS, submission_sets=sets, members=members), []

    def _RetrieveDocumentSet(self, message: Request, parts: dict[str, bytes]) -> tuple[Any, list[Any]]:
        (request,) = message.body.iterfind(f"{{{NS_XDSB}}}DocumentRequest")
        repository = request.findtext(f"{{{NS_XDSB}}}RepositoryUniqueId") or ""
        unique_id = request.findtext(f"{{{NS_XDSB}}}DocumentUniqueId") or ""
        content = next(c for d, c in self.documents.values() if d.unique_id == unique_id)
        answer = retrieve_response([(repository, unique_id, "text/xml", "doc1@mini")])
        return answer, [mtom.Part("doc1@mini", content, "text/xml")]

    def _UpdateDocumentSet(self, message: Request, parts: dict[str, bytes]) -> tuple[Any, list[Any]]:
        objects = message.body.find(f".//{{{NS_RIM}}}RegistryObjectList")
        update = objects.find(f"{{{NS_RIM}}}Association[@associationType='{registry.UPDATE_AVAILABILITY}']")
        if update is not None:
            old, content = self.documents[update.get("targetObject")]
            new_status = update.findtext(f"{{{NS_RIM}}}Slot[@name='NewStatus']/{{{NS_RIM}}}ValueList/{{{NS_RIM}}}Value")
            self.documents[old.entry_uuid] = (dataclasses.replace(old, status=new_status), content)
            return registry_response(registry.SUCCESS), []
        new = registry.parse_document_entry(objects.find(f"{{{NS_RIM}}}ExtrinsicObject"))
        (old, content), *_ = [v for v in self.documents.values() if v[0].logical_id == new.logical_id]
        self.documents[old.entry_uuid] = (dataclasses.replace(old, status=STATUS_DEPRECATED), content)
        entry_uuid = f"urn:uuid:{uuid.uuid4()}"
        version = dataclasses.replace(
            old, entry_uuid=entry_uuid, confidentiality=new.confidentiality, version=old.version + 1
        )
        self.documents[entry_uuid] = (version, content)
        return registry_response(registry.SUCCESS), []


@dataclasses.dataclass
class Server:
    dmp: MiniDmp
    endpoint: DmpEndpoint
    ca: Issued
    signer: Issued
    release: threading.Event


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("mini-dmp")
    ca = issue("TEST AC MINI DMP")
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    server_cert, server_key = issue("localhost", ca, server=True).write(directory, "server")
    client_cert, client_key = issue("CABINET AUTH", ca).write(directory, "auth")
    signer = issue("CABINET SIGNATURE", ca)
    sign_cert, sign_key = signer.write(directory, "sign")
    dmp = MiniDmp(ca.cert_pem)
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            dmp.ports.add(self.client_address[1])
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if "/hang/" in self.path:
                release.wait(10)
            status, content_type, data = dmp.answer(self.path, self.headers.get("Content-Type", ""), body)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (ssl.SSLError, OSError):
                pass  # the client gave up (oversize and timeout tests): nothing to report

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(server_cert, server_key)
    context.load_verify_locations(ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    endpoint = DmpEndpoint(
        url=f"https://127.0.0.1:{httpd.server_address[1]}/si-dmp-server/v2/services",
        client_cert=client_cert,
        client_key=client_key,
        sign_cert=sign_cert,
        sign_key=sign_key,
        ca_bundle=ca_file,
    )
    yield Server(dmp, endpoint, ca, signer, release)
    release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dmp(server: Server) -> Iterator[DmpClient]:
    server.dmp.override = None
    client = DmpClient(server.endpoint, timeout=5)
    yield client
    client.close()
    server.dmp.override = None


def lot(unique_id: str, content: bytes) -> tuple[list[Any], SubmissionInfo]:
    submission = SubmissionInfo(f"2.25.{uuid.uuid4().int}", "2.25.2", dt.datetime.now(dt.UTC))
    return [entry(unique_id, content, "Document01")], submission


# --- transactions ------------------------------------------------------------------------------------------------


def test_existence_authorization_and_the_vihf(dmp: DmpClient, server: Server) -> None:
    server.dmp.authorization = "ABSENTE"
    status = dmp.test_existence(CALLER, INS)
    assert status.exists and status.active and status.authorization == "ABSENTE" and not status.may_consult
    assertion = server.dmp.assertions[-1]
    values = {
        a.get("Name"): [v.text for v in a.iterfind(f"{{{vihf.NS_SAML}}}AttributeValue")]
        for a in assertion.iter(f"{{{vihf.NS_SAML}}}Attribute")
    }
    assert values[vihf.A_RESOURCE_ID] == [INS]
    assert values[vihf.A_LPS_NAME] == ["Caducee"] and values[vihf.A_SUBJECT_ID] == ["Anne MEDECIN"]
    issuer = assertion.findtext(f"{{{vihf.NS_SAML}}}Issuer")
    assert issuer == server.signer.cert.subject.rfc4514_string()
    XMLVerifier().verify(etree.fromstring(etree.tostring(assertion)), x509_cert=server.signer.cert)

    status = dmp.set_authorization(CALLER, INS)
    assert status.may_consult and status.authorization_until is not None
    assert not dmp.test_existence(CALLER, "000000000000001^^^&1.2.250.1.213.1.4.10&ISO^NH").exists


def test_every_xds_transaction(dmp: DmpClient, server: Server) -> None:
    content = f"<ClinicalDocument>{uuid.uuid4()}</ClinicalDocument>".encode()
    unique_id = f"1.2.250.1.999.1.1^{uuid.uuid4().int % 10**9}"
    entries, submission = lot(unique_id, content)
    result = dmp.provide_and_register(CALLER, entries, submission)
    assert result.document_unique_ids == (unique_id,) and not result.already_registered

    again = dmp.provide_and_register(CALLER, entries, dataclasses.replace(submission, unique_id="2.25.77"))
    assert again.already_registered
    changed, submission2 = lot(unique_id, content + b" ")
    with pytest.raises(DmpRejected) as caught:
        dmp.provide_and_register(CALLER, changed, submission2)
    assert caught.value.code == "XDSNonIdenticalHash"

    found = dmp.find_by_unique_id(CALLER, INS, unique_id)
    assert found is not None and found.hash == hashlib.sha1(content).hexdigest()  # noqa: S324
    assert found.repository_unique_id == REPOSITORY
    assert unique_id in {d.unique_id for d in dmp.find_documents(CALLER, INS, service_start_from="20200101")}
    assert all(d.class_code != xades.SIGNATURE_CLASS for d in dmp.find_documents(CALLER, INS))
    new = dmp.find_new_documents(CALLER, INS, submitted_from="20200101000000")
    assert unique_id in {d.unique_id for d in new} and all(d.submission_time for d in new)
    assert dmp.retrieve(CALLER, INS, found) == content
    with pytest.raises(DmpInvalidResponse, match="empreinte"):
        dmp.retrieve(CALLER, INS, dataclasses.replace(found, size=found.size + 1))

    masked = dmp.update_confidentiality(CALLER, INS, found, ["N", "MASQUE_PS"])
    assert masked.confidentiality == ("N", "MASQUE_PS") and masked.version == found.version + 1
    assert masked.entry_uuid != found.entry_uuid and masked.logical_id == found.logical_id
    dmp.update_status(CALLER, INS, masked, STATUS_ARCHIVED)
    assert dmp.find_by_unique_id(CALLER, INS, unique_id).status == STATUS_ARCHIVED  # type: ignore[union-attr]
    assert dmp.find_by_unique_id(CALLER, INS, "1.2.3.404") is None


def test_replacement_deprecates_the_old_entry(dmp: DmpClient) -> None:
    first_entries, first_submission = lot(f"1.2.250.1.999.2^{uuid.uuid4().int % 10**9}", b"<v1/>")
    dmp.provide_and_register(CALLER, first_entries, first_submission)
    old = dmp.find_by_unique_id(CALLER, INS, first_entries[0].unique_id)
    assert old is not None
    new_entries, new_submission = lot(f"1.2.250.1.999.2^{uuid.uuid4().int % 10**9}", b"<v2/>")
    dmp.provide_and_register(CALLER, new_entries, new_submission, replaces=old.entry_uuid)
    assert dmp.find_by_unique_id(CALLER, INS, old.unique_id).status == STATUS_DEPRECATED  # type: ignore[union-attr]


def test_connections_are_kept_alive(dmp: DmpClient, server: Server) -> None:
    server.dmp.ports.clear()
    for _ in range(5):
        dmp.test_existence(CALLER, INS)
    assert len(server.dmp.ports) == 1


# --- failures ------------------------------------------------------------------------------------------------------


def _fault(code: str, subcode: str = "") -> bytes:
    return fault(code, "Motif", subcode)


SOAP = "application/soap+xml"
OTHER_REQUEST = envelope(etree.Element("x"), action="a", relates_to="urn:uuid:autre")
SOAP11 = b'<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>'
XXE = b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><e>&x;</e>'


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        ((503, "text/html", b"<html>maintenance</html>"), DmpUnavailable, "503"),
        ((500, SOAP, _fault("Receiver")), DmpUnavailable, "Receiver"),
        ((400, SOAP, _fault("Sender", "wsse:InvalidSecurityToken")), DmpRejected, "InvalidSecurityToken"),
        ((404, "text/plain", b"introuvable"), DmpRejected, "404"),
        ((200, SOAP, b"garbage"), DmpInvalidResponse, ""),
        ((200, SOAP, XXE), DmpInvalidResponse, ""),
        ((200, "multipart/related; boundary=x", b"--x\r\nContent-ID: <a>\r\n\r\nabc"), DmpInvalidResponse, ""),
        ((200, SOAP, OTHER_REQUEST), DmpInvalidResponse, ""),
        ((200, SOAP, SOAP11), DmpInvalidResponse, ""),
    ],
)  # fmt: skip
def test_failures_map_to_errors(dmp: DmpClient, server: Server, answer: Answer, error: type, code: str) -> None:
    server.dmp.override = lambda path, body: answer
    with pytest.raises(error) as caught:
        dmp.test_existence(CALLER, INS)
    assert caught.value.code == code
    assert str(caught.value)[0].isupper()  # a French sentence for the user


def test_oversize_answer(server: Server) -> None:
    small = DmpClient(server.endpoint, max_response_bytes=2000)
    server.dmp.override = lambda path, body: (200, SOAP, b"<a>" + b"x" * 5000 + b"</a>")
    with pytest.raises(DmpInvalidResponse, match="volumineuse"):
        small.test_existence(CALLER, INS)
    server.dmp.override = None


def test_timeout_is_unavailable(server: Server) -> None:
    hanging = DmpClient(dataclasses.replace(server.endpoint, url=server.endpoint.url + "/hang"), timeout=0.3)
    server.release.clear()
    try:
        with pytest.raises(DmpUnavailable, match="à temps"):
            hanging.test_existence(CALLER, INS)
    finally:
        server.release.set()


def test_tls_errors_are_unavailable(server: Server, tmp_path: Path) -> None:
    other_ca = tmp_path / "other.pem"
    other_ca.write_bytes(issue("AUTRE AC").cert_pem)
    with pytest.raises(DmpUnavailable, match="TLS"):
        DmpClient(dataclasses.replace(server.endpoint, ca_bundle=other_ca)).test_existence(CALLER, INS)
    stranger_cert, stranger_key = issue("INCONNU", issue("AUTRE AC")).write(tmp_path, "stranger")
    with pytest.raises(DmpUnavailable):
        DmpClient(
            dataclasses.replace(server.endpoint, client_cert=stranger_cert, client_key=stranger_key)
        ).test_existence(CALLER, INS)


def test_connection_refused_is_unavailable(server: Server) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = dataclasses.replace(server.endpoint, url=f"https://127.0.0.1:{port}/services")
    with pytest.raises(DmpUnavailable, match="injoignable"):
        DmpClient(closed, timeout=1).test_existence(CALLER, INS)


def test_bad_caller_is_rejected_before_sending(dmp: DmpClient) -> None:
    with pytest.raises(DmpRejected, match="VIHF"):
        dmp.test_existence(dataclasses.replace(CALLER, auth_mode="CARTE"), INS)
    with pytest.raises(DmpRejected, match="INS"):
        dmp.test_existence(CALLER, "162018885045327")


# --- factory -------------------------------------------------------------------------------------------------------


def test_factory_reads_the_settings_and_caches_one_client(server: Server, settings: Any) -> None:
    settings.DMP_URL = ""
    with pytest.raises(ImproperlyConfigured, match="CADUCEE_DMP_URL"):
        dmp_client()
    endpoint = server.endpoint
    settings.DMP_URL, settings.DMP_CA_BUNDLE = endpoint.url, str(endpoint.ca_bundle)
    settings.DMP_AUTH_CERT, settings.DMP_AUTH_KEY = str(endpoint.client_cert), str(endpoint.client_key)
    settings.DMP_SIGN_CERT, settings.DMP_SIGN_KEY = str(endpoint.sign_cert), str(endpoint.sign_key)
    try:
        first = dmp_client()
        assert first is dmp_client() and isinstance(first, DmpClient)
        assert first.test_existence(CALLER, INS).exists
    finally:
        client_module._clients.clear()


def test_factory_without_settings_explains_what_is_missing(settings: Any) -> None:
    settings.SANDBOX = False
    settings.DMP_URL = ""
    with pytest.raises(ImproperlyConfigured, match="CADUCEE_DMP_URL"):
        dmp_client()
    settings.DMP_URL, settings.DMP_AUTH_CERT, settings.DMP_AUTH_KEY = "http://dmp", "/a", "/b"
    settings.DMP_SIGN_CERT, settings.DMP_SIGN_KEY = "/c", "/d"
    with pytest.raises(ImproperlyConfigured, match="https"):
        dmp_client()
    settings.DMP_URL = "https://dmp"
    with pytest.raises(ImproperlyConfigured, match="introuvable"):
        dmp_client()
