"""DMP sandbox: the HTTPS SOAP 1.2 server standing for the national DMP (same pattern as the INSi sandbox).

- TLS ≥ 1.2, client certificate required and signed by the sandbox CA (the DMP authenticates the structure).
- POST under the base path `/si-dmp-server/v2/services` to `/patients`, `/habilitations`, `/registry`,
  `/repository` (docs/dmp.md §Transport); other path 404, other method 405, content type other than
  application/soap+xml or multipart/related (MTOM) 415, body over MAX_REQUEST_BYTES 413, missing length 411.
- Every request: SOAP 1.2 envelope, wsa:Action (matching the path and the HTTP `action` parameter) and
  wsa:MessageID, the VIHF checked by `checks.verify_vihf`; then the transaction (`service.DmpService`).
  Errors in the envelope are SOAP Sender faults; VIHF refusals Sender + wsse:InvalidSecurityToken /
  wsse:FailedAuthentication; transaction errors are ebRS/HL7 answers (HTTP 200).
- Fault injection: `DmpSandbox.fail_next(n, kind)`; per-patient misbehaviour from data/dmp_patients.json.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from caducee.core.oids import NS_SOAP12, NS_WSA
from caducee.sandbox.dmp import wire
from caducee.sandbox.dmp.checks import VihfClaims, VihfRejected, verify_vihf
from caducee.sandbox.dmp.patients import DMP_PATIENTS_FILE, InsRefused, load_patients
from caducee.sandbox.dmp.registry import ValueSets
from caducee.sandbox.dmp.service import Answer, DmpService
from caducee.sandbox.dmp.store import DmpStore
from caducee.sandbox.tls import (
    MutualTlsServer,
    SandboxRequestHandler,
    parse_untrusted_request,
    server_ssl_context,
)

logger = logging.getLogger("caducee.sandbox.dmp")

BASE_PATH = "/si-dmp-server/v2/services"
MAX_REQUEST_BYTES = 25 * 1024 * 1024  # one 20 MB document + metadata and signature
FAULT_KINDS = ("http_503", "receiver_fault", "slow", "garbage", "drop_connection")
ACTION_TD02 = "urn:hl7-org:v3:PRPA_IN201307UV02"
ACTION_TD03 = "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization"
ACTION_ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI43 = "urn:ihe:iti:2007:RetrieveDocumentSet"
ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
ROUTES = {
    "/patients": (ACTION_TD02,),
    "/habilitations": (ACTION_TD03,),
    "/registry": (ACTION_ITI18, ACTION_ITI57),
    "/repository": (ACTION_ITI41, ACTION_ITI43),
}
RESPONSE_ACTIONS = {
    ACTION_TD02: "urn:hl7-org:v3:PRPA_IN201308UV02",
    ACTION_TD03: ACTION_TD03 + "Response",
    ACTION_ITI41: ACTION_ITI41 + "Response",
    ACTION_ITI18: ACTION_ITI18 + "Response",
    ACTION_ITI43: ACTION_ITI43 + "Response",
    ACTION_ITI57: ACTION_ITI57 + "Response",
}
_XSD = Path("dmp_mss") / "xds_schemas" / "schema" / "IHE" / "XDS.b_DocumentRepository.xsd"
_P = f"{{{NS_SOAP12}}}"


class SoapFaultError(Exception):
    def __init__(self, code: str, subcode: str, reason: str, *, http_status: int = 0) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason = code, subcode, reason
        self.http_status = http_status or (500 if code == "Receiver" else 400)


def _sender(reason: str, *, http_status: int = 0, subcode: str = "") -> SoapFaultError:
    return SoapFaultError("Sender", subcode, reason, http_status=http_status)


def load_schema(reference_dir: Path | None) -> etree.XMLSchema | None:
    """XDS.b_DocumentRepository.xsd (imports rim, lcm, rs, query), loaded once; None when the kit is absent."""
    path = Path(reference_dir or ".") / _XSD
    if reference_dir is None or not path.is_file():
        logger.warning("Bac à sable DMP : XSD XDS.b introuvables sous %s ; contrôles structurels seulement.", path)
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(path), parser))


@dataclass
class RequestRecord:
    """What the sandbox received (tests assert on it)."""

    at: float
    path: str
    action: str
    national_id: str
    patient: str
    outcome: str


@dataclass
class DmpSandbox:
    server: DmpServer
    thread: threading.Thread
    url: str  # base URL, without the service path
    requests: list[RequestRecord] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def store(self) -> DmpStore:
        return self.server.service.store

    def service_url(self, service: str) -> str:
        return f"{self.url}/{service.strip('/')}"

    def fail_next(self, n: int = 1, kind: str = "http_503", *, delay_seconds: float = 15.0) -> None:
        """The next `n` requests (whatever they are) fail this way; see FAULT_KINDS."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        with self.server.faults_lock:
            self.server.faults.extend([(kind, delay_seconds)] * n)

    def clear_faults(self) -> None:
        with self.server.faults_lock:
            self.server.faults.clear()

    def set_patient(self, matricule: str, **config: Any) -> None:
        """Change a patient's DMP state at run time (tests: close a DMP, block a professional...)."""
        current = self.store.patient_config(matricule) or {}
        self.store.set_patient_config(matricule, {**current, **config})

    def stop(self) -> None:
        self.server.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.server.service.store.close()


class DmpServer(MutualTlsServer):
    label = "Bac à sable DMP"
    request_queue_size = 128
    handshake_timeout = 30.0

    def __init__(
        self, address: tuple[str, int], ssl_context: ssl.SSLContext, service: DmpService, ca_file: str
    ) -> None:
        super().__init__(address, DmpHandler, ssl_context)
        self.service = service
        self.ca_file = ca_file
        self.log: list[RequestRecord] = []
        self.faults: collections.deque[tuple[str, float]] = collections.deque()
        self.faults_lock = threading.Lock()

    def connection_closed(self) -> None:
        self.service.store.release()  # one SQLite connection per client connection, reused across requests

    def record(self, record: RequestRecord) -> None:
        with self.log_lock:
            self.log.append(record)

    def next_fault(self) -> tuple[str, float] | None:
        with self.faults_lock:
            return self.faults.popleft() if self.faults else None


class _Dropped(Exception):
    """The connection was closed on purpose (fault injection)."""


class DmpHandler(SandboxRequestHandler):
    server: DmpServer
    server_version = "CaduceeSandboxDMP/1.0"
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _method_not_allowed(self) -> None:
        self.close_connection = True
        self._send(405, b"", "text/plain", extra={"Allow": "POST"})

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _method_not_allowed

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        service = path[len(BASE_PATH) :] if path.startswith(BASE_PATH + "/") else ""
        if service not in ROUTES:
            self.close_connection = True  # body not read: the connection cannot be reused
            self._send(404, b"", "text/plain")
            return
        record = RequestRecord(time.time(), service, "", "", "", "")
        message_id = ""
        try:
            content_type = self.headers.get("Content-Type", "")
            media, params = wire.content_type_params(content_type)
            if media not in ("application/soap+xml", "multipart/related"):
                self.close_connection = True
                raise _sender(
                    f"Content-Type {media or 'absent'} : application/soap+xml ou multipart/related (MTOM) attendu.",
                    http_status=415,
                )
            data = self._read_body()
            if self._injected_fault(record):
                return
            if media == "multipart/related":
                try:
                    root_part, attachments = wire.parse_multipart(data, content_type)
                except wire.MultipartError as exc:
                    raise _sender(f"Message MTOM illisible : {exc}") from exc
                xml = root_part.body
            else:
                xml, attachments = data, {}
            envelope = _safe_parse(xml)
            header, body, action, message_id = self._envelope(envelope, service, params.get("action"))
            record.action = action
            try:
                claims = verify_vihf(header, ca_file=self.server.ca_file)
            except VihfRejected as exc:
                raise _sender(exc.reason, subcode=exc.subcode) from exc
            record.national_id, record.patient = claims.national_id, claims.resource_id or ""
            if self._patient_misbehaves(claims, record):
                return
            answer = self._dispatch(action, claims, body, attachments)
            record.outcome = answer.outcome
            self._answer(answer, action, message_id)
        except SoapFaultError as fault:
            record.outcome = f"fault:{fault.subcode or fault.code}"
            self._send(fault.http_status, wire.fault(fault.code, fault.subcode, fault.reason, relates_to=message_id))
        except _Dropped:
            record.outcome = "dropped"
        except Exception:  # the sandbox's own bug: a Receiver fault, logged
            logger.exception("Bac à sable DMP : erreur interne")
            record.outcome = "fault:internal"
            self._send(500, wire.fault("Receiver", "", "Erreur interne du bac à sable DMP.", relates_to=message_id))
        finally:
            self.server.record(record)

    # -- request --------------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self.close_connection = True
            raise _sender("Content-Length obligatoire.", http_status=411)
        if int(length) > MAX_REQUEST_BYTES:
            self.close_connection = True
            # Drain a moderately oversized body so the client reads the 413 instead of a reset connection.
            remaining = int(length) if int(length) <= 4 * MAX_REQUEST_BYTES else 0
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            raise _sender("Requête trop volumineuse (documents limités à 20 Mo).", http_status=413)
        return self.rfile.read(int(length))

    @staticmethod
    def _envelope(
        root: etree._Element, service: str, http_action: str | None
    ) -> tuple[etree._Element, etree._Element, str, str]:
        if root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope":
            raise SoapFaultError("VersionMismatch", "", "Le service n'accepte que SOAP 1.2.")
        if root.tag != _P + "Envelope":
            raise _sender("Enveloppe SOAP 1.2 attendue.")
        header, body = root.find(_P + "Header"), root.find(_P + "Body")
        if header is None or body is None:
            raise _sender("En-tête (Header) et corps (Body) SOAP obligatoires.")
        actions = header.findall(f"{{{NS_WSA}}}Action")
        message_ids = header.findall(f"{{{NS_WSA}}}MessageID")
        if len(actions) != 1 or len(message_ids) != 1:
            raise _sender("En-têtes WS-Addressing Action et MessageID obligatoires (un de chaque).")
        action = (actions[0].text or "").strip()
        message_id = (message_ids[0].text or "").strip()
        if not message_id:
            raise _sender("wsa:MessageID vide.")
        if action not in ROUTES[service]:
            raise _sender(f"Action {action!r} inconnue du service {service}.")
        if http_action is not None and http_action.strip() != action:
            raise _sender("L'action du Content-Type HTTP diffère de wsa:Action.")
        payload = [child for child in body if isinstance(child.tag, str)]
        if len(payload) != 1:
            raise _sender("Le corps SOAP doit contenir un seul élément.")
        return header, payload[0], action, message_id

    def _dispatch(self, action: str, claims: VihfClaims, body: etree._Element, attachments: dict[str, bytes]) -> Answer:
        service = self.server.service
        try:
            if action == ACTION_TD02:
                return service.td02(claims, body)
            if action == ACTION_TD03:
                return service.td03(claims, body)
            if action == ACTION_ITI41:
                return service.provide_and_register(claims, body, attachments)
            if action == ACTION_ITI18:
                return service.stored_query(claims, body)
            if action == ACTION_ITI43:
                return service.retrieve(claims, body)
            return service.update(claims, body)
        except PermissionError as exc:
            raise _sender(str(exc), subcode="wsse:FailedAuthentication") from exc
        except (ValueError, InsRefused) as exc:
            raise _sender(str(exc)) from exc

    # -- misbehaviour ---------------------------------------------------------------------------------------

    def _injected_fault(self, record: RequestRecord) -> bool:
        fault = self.server.next_fault()
        if fault is None:
            return False
        record.outcome = f"injected:{fault[0]}"
        self._misbehave(*fault)
        return True

    def _patient_misbehaves(self, claims: VihfClaims, record: RequestRecord) -> bool:
        if not claims.resource_id:
            return False
        try:
            patient = self.server.service.patient(claims.resource_id)
        except InsRefused:
            return False
        if not patient.behaviour:
            return False
        record.outcome = f"patient:{patient.behaviour}"
        self._misbehave(patient.behaviour, patient.delay_seconds)
        return True

    def _misbehave(self, kind: str, delay: float) -> None:
        if kind == "http_503":
            self._send(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", "text/html")
        elif kind == "receiver_fault":
            self._send(
                500,
                wire.fault(
                    "Receiver", "", "Le service DMP est temporairement indisponible. Veuillez réessayer plus tard."
                ),
            )
        elif kind == "slow":
            self.server.stop_event.wait(delay)  # interrupted at once when the sandbox stops
            self._send(500, wire.fault("Receiver", "", "Délai de traitement dépassé (bac à sable DMP)."))
        elif kind == "garbage":
            self._send(200, b"\x00\x01 ceci n'est pas du XML <<<")
        else:  # drop_connection
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise _Dropped()

    # -- answer ---------------------------------------------------------------------------------------------

    def _answer(self, answer: Answer, action: str, message_id: str) -> None:
        envelope = wire.envelope(answer.body, action=RESPONSE_ACTIONS[action], relates_to=message_id)
        xml = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        if action == ACTION_ITI43 and answer.attachments:
            body, content_type = wire.build_multipart(
                xml, answer.attachments, action=RESPONSE_ACTIONS[action], start="root.message@sandbox-dmp"
            )
            self._send(200, body, content_type)
        else:
            content_type = f'application/soap+xml; charset=utf-8; action="{RESPONSE_ACTIONS[action]}"'
            self._send(200, xml, content_type)


def _safe_parse(data: bytes) -> etree._Element:
    return parse_untrusted_request(data, _sender)


def start_dmp_sandbox(
    *,
    ca: Path,
    cert: Path,
    key: Path,
    database: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    reference_dir: Path | None = None,
    patients_file: Path = DMP_PATIENTS_FILE,
    preload_demo: bool = True,
    today: Any = None,
) -> DmpSandbox:
    """Start the DMP sandbox in a daemon thread (port 0 = any free port) over its SQLite file `database`."""
    store = DmpStore(database)
    service = DmpService(
        store,
        load_patients(patients_file),
        load_schema(reference_dir),
        ValueSets.load(reference_dir),
        ca_file=str(ca),
        **({"today": today} if today is not None else {}),
    )
    if preload_demo:
        from caducee.sandbox.dmp.demo import preload

        preload(service)
    server = DmpServer((host, port), server_ssl_context(ca=ca, cert=cert, key=key), service, str(ca))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="caducee-sandbox-dmp", daemon=True
    )
    thread.start()
    bound_host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 — only rewriting for the URL
    sandbox = DmpSandbox(
        server=server, thread=thread, url=f"https://{bound_host}:{server.server_address[1]}{BASE_PATH}"
    )
    sandbox.requests = server.log
    logger.debug("Bac à sable DMP : %s (%s)", sandbox.url, dt.datetime.now(dt.UTC).isoformat())
    return sandbox
