"""INSi sandbox: a SOAP 1.2 server over mutual TLS that behaves like the CNAM service.

- TLS ≥ 1.2, client certificate required and signed by the sandbox CA; its CN must be INSI-AUTO
  or INSI-MANU, otherwise a DESIR_560 fault (notes §3.4).
- POST /lps only. The request is checked like the real service does: SOAP 1.2 envelope, the
  ContexteLPS/ContexteBAM headers and the body against the official XSDs (reference
  `ins/insi-wsdl/xsd/`), wsa:Action matching the body; a non-conforming request gets a
  soap:Sender fault. An empty IDAM gets siram_100/desir_550 (notes §3.2).
- Answers come from `data/insi_personas.json`, shaped like the recorded CNDA answers
  (`ins/insi-responses/*.xml`).

Fault codes whose real value is not public (non-conforming request, wrong content type) are
the sandbox's own choice and say so in their text.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lxml import etree

from caducee.core.oids import (
    INSI_ACTION_TRAITS,
    INSI_ACTION_VITALE,
    NS_CTXBAM,
    NS_CTXLPS,
    NS_INSI_RECSANS,
    NS_INSI_RECVIT,
    NS_INSI_RESULTAT,
    NS_SIRAM,
    NS_SOAP12,
    NS_WSA,
)
from caducee.sandbox.tls import (
    MutualTlsServer,
    SandboxRequestHandler,
    parse_untrusted_request,
    server_ssl_context,
)

logger = logging.getLogger("caducee.sandbox.insi")

PERSONAS_FILE = Path(__file__).parent / "data" / "insi_personas.json"
MAX_REQUEST_BYTES = 1_000_000
ALLOWED_CLIENT_CNS = {"INSI-AUTO", "INSI-MANU"}
_NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
_XSD_DIR = Path("ins") / "insi-wsdl" / "xsd"
_XSD_FILES = {
    "recsans": _XSD_DIR / "ServiceIdentiteCertifiee" / "INSi_RECSANS_INS.xsd",
    "recvit": _XSD_DIR / "ServiceIdentiteCertifiee" / "INSi_RECVITALE_INS.xsd",
    "ctxlps": _XSD_DIR / "CTX" / "ROOT_ctxlps_CTXLPS_V01_00.xsd",
    "ctxbam": _XSD_DIR / "CTX" / "ROOT_ctxbam_CTXBAM_V01_02.xsd",
}
_BODY_FOR_ACTION = {
    INSI_ACTION_TRAITS: (NS_INSI_RECSANS, "RECSANSVITALE", "recsans"),
    INSI_ACTION_VITALE: (NS_INSI_RECVIT, "RECVITALE", "recvit"),
}
# Texts of the real service (padoa/tlsi-ins fixtures, notes §3.2).
_TEXT_SIRAM_40 = (
    "Le service est temporairement inaccessible. Veuillez renouveler votre demande ultérieurement. "
    "Si le problème persiste, contactez l'éditeur du progiciel ou votre responsable informatique."
)
_TEXT_INSI_102 = "L'appel au service de recherche avec les traits d'identité renvoie une erreur technique."
_TEXT_SIRAM_100 = (
    "L'accès par ce progiciel au service n'est pas autorisé. Contactez l'éditeur du progiciel "
    "ou votre responsable informatique."
)
_TEXT_DESIR_550 = "Numéro d'autorisation du logiciel inconnu."
_TEXT_DESIR_560 = "Vous ne disposez pas des droits suffisants pour accéder à ce service."
_LABELS = {"00": "OK", "01": "Aucune identite trouvee", "02": "Plusieurs identites trouvees"}


# ---------------------------------------------------------------------------------------------
# Faults and answers


@dataclass(eq=False)
class SoapFault(Exception):
    code: str  # Sender | Receiver | VersionMismatch
    subcode: str
    reason: str
    detail_code: str
    detail: str
    severity: str = "erreur"
    http_status: int = 0

    def status(self) -> int:
        if self.http_status:
            return self.http_status
        return 500 if self.code == "Receiver" else 400


def fault_xml(fault: SoapFault, message_id: str = "") -> bytes:
    """A SOAP 1.2 fault shaped like the CNAM's (notes §3.2)."""
    envelope = etree.Element(f"{{{NS_SOAP12}}}Envelope", nsmap={"soap": NS_SOAP12})
    body = etree.SubElement(envelope, f"{{{NS_SOAP12}}}Body")
    node = etree.SubElement(body, f"{{{NS_SOAP12}}}Fault")
    code = etree.SubElement(node, f"{{{NS_SOAP12}}}Code")
    etree.SubElement(code, f"{{{NS_SOAP12}}}Value").text = f"soap:{fault.code}"
    if fault.subcode:
        sub = etree.SubElement(code, f"{{{NS_SOAP12}}}Subcode")
        etree.SubElement(sub, f"{{{NS_SOAP12}}}Value").text = f"soap:{fault.subcode}"
    reason = etree.SubElement(node, f"{{{NS_SOAP12}}}Reason")
    text = etree.SubElement(reason, f"{{{NS_SOAP12}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    text.text = fault.reason
    if fault.detail_code:
        detail = etree.SubElement(node, f"{{{NS_SOAP12}}}Detail")
        erreur = etree.SubElement(detail, f"{{{NS_SIRAM}}}Erreur", nsmap={"siram": NS_SIRAM})
        erreur.set("code", fault.detail_code)
        if message_id:
            erreur.set("messageID", message_id)
        erreur.set("severite", fault.severity)
        erreur.text = fault.detail
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _resultat_envelope() -> tuple[etree._Element, etree._Element]:
    # Same namespace layout as the recorded answers: soap:Envelope / S:Body / RESULTAT (default ns).
    envelope = etree.Element(f"{{{NS_SOAP12}}}Envelope", nsmap={"soap": NS_SOAP12})
    body = etree.SubElement(envelope, f"{{{NS_SOAP12}}}Body", nsmap={"S": NS_SOAP12})
    resultat = etree.SubElement(
        body,
        f"{{{NS_INSI_RESULTAT}}}RESULTAT",
        nsmap={"ns3": NS_INSI_RECVIT, "ns2": NS_INSI_RECSANS, None: NS_INSI_RESULTAT},  # type: ignore[dict-item]
    )
    return envelope, resultat


def _r(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS_INSI_RESULTAT}}}{tag}")
    if text is not None:
        element.text = text
    return element


def resultat_xml(code: str, persona: dict[str, Any] | None = None) -> bytes:
    envelope, resultat = _resultat_envelope()
    cr = _r(resultat, "CR")
    _r(cr, "CodeCR", code)
    _r(cr, "LibelleCR", _LABELS[code])
    if code == "00" and persona is not None:
        individu = _r(resultat, "INDIVIDU")
        _ins(_r(individu, "INSACTIF"), persona)
        for histo in persona.get("history", []):
            _ins(_r(individu, "INSHISTO"), histo)
        returned = {**persona, **persona.get("returned", {})}
        tiq = _r(individu, "TIQ")
        _r(tiq, "NomNaissance", returned["birth_name"])
        if returned.get("given_name"):
            _r(tiq, "Prenom", returned["given_name"])
        _r(tiq, "ListePrenom", returned.get("given_names") or "")
        _r(tiq, "Sexe", returned["sex"])
        _r(tiq, "DateNaissance", returned["birth_date"])
        if returned.get("birthplace"):
            _r(tiq, "LieuNaissance", returned["birthplace"])
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _ins(parent: etree._Element, record: dict[str, Any]) -> None:
    # The real service puts DateDeb/DateFin before IdIndividu (CNDA TEST_2.04): so do we.
    if record.get("start"):
        _r(parent, "DateDeb", record["start"])
    if record.get("end"):
        _r(parent, "DateFin", record["end"])
    id_individu = _r(parent, "IdIndividu")
    _r(id_individu, "NumIdentifiant", record["matricule"])
    _r(id_individu, "Cle", record["key"])
    _r(parent, "OID", record["oid"])


# ---------------------------------------------------------------------------------------------
# Request checks


def load_schemas(reference_dir: Path | None) -> dict[str, etree.XMLSchema] | None:
    """The official XSDs, or None (structural checks only) when the reference kit is absent."""
    if reference_dir is None or not all((Path(reference_dir) / path).is_file() for path in _XSD_FILES.values()):
        logger.warning(
            "Bac à sable INSi : XSD officiels introuvables sous %s/%s ; contrôles structurels seulement.",
            reference_dir,
            _XSD_DIR,
        )
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return {
        name: etree.XMLSchema(etree.parse(str(Path(reference_dir) / path), parser)) for name, path in _XSD_FILES.items()
    }


def _sender(detail: str, *, detail_code: str = "insi_sandbox_400", http_status: int = 0) -> SoapFault:
    # Subcode/detail code of a non-conforming request: the sandbox's own (real values not public).
    return SoapFault(
        code="Sender",
        subcode="siram_10",
        reason="Requête non conforme au contrat de service (bac à sable INSi).",
        detail_code=detail_code,
        detail=detail,
        http_status=http_status,
    )


def _safe_parse(data: bytes) -> etree._Element:
    return parse_untrusted_request(data, _sender)


@dataclass
class ParsedRequest:
    action: str
    message_id: str
    idam: str
    fields: dict[str, Any]


def _validate(schemas: dict[str, etree.XMLSchema] | None, name: str, element: etree._Element) -> None:
    if schemas is None:
        return
    schema = schemas[name]
    if not schema.validate(element):
        errors = list(cast(Any, schema.error_log))
        message = errors[-1].message if errors else ""
        raise _sender(f"{etree.QName(element).localname} non conforme au XSD : {message}")


def parse_request(data: bytes, http_action: str | None, schemas: dict[str, etree.XMLSchema] | None) -> ParsedRequest:
    root = _safe_parse(data)
    if root.tag == f"{{{_NS_SOAP11}}}Envelope":
        raise SoapFault(
            code="VersionMismatch",
            subcode="",
            reason="Le service n'accepte que SOAP 1.2.",
            detail_code="",
            detail="",
        )
    if root.tag != f"{{{NS_SOAP12}}}Envelope":
        raise _sender("Enveloppe SOAP 1.2 attendue.")
    header = root.find(f"{{{NS_SOAP12}}}Header")
    body = root.find(f"{{{NS_SOAP12}}}Body")
    if header is None or body is None:
        raise _sender("En-tête (Header) et corps (Body) SOAP obligatoires.")

    def one(ns: str, tag: str) -> etree._Element:
        found = header.findall(f"{{{ns}}}{tag}")
        if len(found) != 1:
            raise _sender(f"En-tête {tag} absent ou répété.")
        return found[0]

    lps = one(NS_CTXLPS, "ContexteLPS")
    bam = one(NS_CTXBAM, "ContexteBAM")
    message_id = (one(NS_WSA, "MessageID").text or "").strip()
    action = (one(NS_WSA, "Action").text or "").strip()
    _validate(schemas, "ctxlps", lps)
    _validate(schemas, "ctxbam", bam)
    if lps.get("Nature") != "CTXLPS" or lps.get("Version") != "01_00":
        raise _sender('ContexteLPS : Nature="CTXLPS" Version="01_00" attendus.')
    if bam.get("Version") != "01_02":
        raise _sender('ContexteBAM : Version="01_02" attendue.')
    if bam.find(f"{{{NS_CTXBAM}}}COUVERTURE") is None:
        raise _sender("ContexteBAM : COUVERTURE obligatoire.")
    if not message_id:
        raise _sender("wsa:MessageID vide.")
    if action not in _BODY_FOR_ACTION:
        raise _sender(f"wsa:Action inconnue : {action!r}.")
    if http_action is not None and http_action != action:
        raise _sender("L'action du Content-Type HTTP diffère de wsa:Action.")
    ns, tag, schema_name = _BODY_FOR_ACTION[action]
    payload = [child for child in body if isinstance(child.tag, str)]
    if len(payload) != 1 or payload[0].tag != f"{{{ns}}}{tag}":
        raise _sender(f"Le corps ne correspond pas à l'action : {tag} attendu.")
    _validate(schemas, schema_name, payload[0])
    idam_element = lps.find(f"{{{NS_CTXLPS}}}LPS/{{{NS_CTXLPS}}}IDAM")
    idam = (idam_element.text or "").strip() if idam_element is not None else ""
    return ParsedRequest(action=action, message_id=message_id, idam=idam, fields=_fields(payload[0], ns))


def _fields(element: etree._Element, ns: str) -> dict[str, Any]:
    def text(path: str) -> str:
        found = element.find("/".join(f"{{{ns}}}{part}" for part in path.split("/")))
        return (found.text or "").strip() if found is not None else ""

    if etree.QName(element).localname == "RECSANSVITALE":
        return {
            "birth_name": text("NomNaissance"),
            "given_names": [(p.text or "").strip() for p in element.findall(f"{{{ns}}}Prenom")],
            "sex": text("Sexe"),
            "birth_date": text("DateNaissance"),
            "birthplace": text("LieuNaissance"),
        }
    return {
        "nir_individu": text("MatriculeIndividu/NumIdentifiant") + text("MatriculeIndividu/Cle"),
        "nir_od": text("MatriculeOD/NumIdentifiant") + text("MatriculeOD/Cle"),
        "birth_name": text("NomNaissance"),
        "birth_date": text("DateNaissance"),
        "rang": text("RangNaissance"),
    }


# ---------------------------------------------------------------------------------------------
# Matching, as the CNAM service does


def load_personas(path: Path = PERSONAS_FILE) -> list[dict[str, Any]]:
    return list(json.loads(Path(path).read_text(encoding="utf-8"))["personas"])


# The service compares traits regardless of case, diacritics, ligatures and apostrophe look-alikes: the sandbox's own
# folding (not the product's `core.text`, so a normalisation mistake in the client is not mirrored here).
_FOLD = str.maketrans(
    {"Æ": "AE", "æ": "AE", "Œ": "OE", "œ": "OE", "ß": "SS", "’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"}
)


def _norm(value: str) -> str:
    """Upper case, without diacritics, single spaces: the form of the personas' traits."""
    decomposed = unicodedata.normalize("NFKD", (value or "").translate(_FOLD))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()
    return " ".join(bare.split())


def behaviour_persona(personas: list[dict[str, Any]], birth_name: str) -> dict[str, Any] | None:
    """Personas that simulate a failure are recognised by their birth name alone."""
    name = _norm(birth_name)
    for persona in personas:
        if persona["behaviour"] not in ("identity", "not_found") and persona["birth_name"] == name:
            return persona
    return None


def match_traits(personas: list[dict[str, Any]], fields: dict[str, Any]) -> list[dict[str, Any]]:
    name, sex, birth_date = _norm(fields["birth_name"]), fields["sex"], fields["birth_date"]
    sent = [_norm(p) for p in fields["given_names"] if _norm(p)]
    birthplace = fields["birthplace"].upper()
    found = []
    for persona in personas:
        if persona["behaviour"] != "identity":
            continue
        if (persona["birth_name"], persona["sex"], persona["birth_date"]) != (name, sex, birth_date):
            continue
        words = persona["given_names"].split(" ")
        joined = " ".join(sent)
        if not sent or not (joined == persona["given_names"] or all(p in words for p in sent)):
            continue
        if birthplace and persona.get("birthplace") and birthplace != persona["birthplace"]:
            continue
        found.append(persona)
    return found


def match_vitale(personas: list[dict[str, Any]], fields: dict[str, Any]) -> list[dict[str, Any]]:
    name = _norm(fields["birth_name"])
    found = []
    for persona in personas:
        if persona["behaviour"] != "identity":
            continue
        own = persona["matricule"] + persona["key"]
        if fields["nir_od"] != persona.get("nir_od", own):
            continue
        if fields["nir_individu"] and fields["nir_individu"] != own:
            continue
        if (persona["birth_name"], persona["birth_date"]) != (name, fields["birth_date"]):
            continue
        if (fields["rang"] or "1") != persona.get("rang", "1"):
            continue
        found.append(persona)
    return found


# ---------------------------------------------------------------------------------------------
# Server


@dataclass
class RequestRecord:
    """What the sandbox received (tests assert on it: e.g. no call for refused traits)."""

    at: float
    client_cn: str
    action: str
    fields: dict[str, Any]
    outcome: str


@dataclass
class InsiSandbox:
    server: InsiServer
    thread: threading.Thread
    url: str
    requests: list[RequestRecord] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class InsiServer(MutualTlsServer):
    label = "Bac à sable INSi"

    def __init__(
        self,
        address: tuple[str, int],
        ssl_context: ssl.SSLContext,
        personas: list[dict[str, Any]],
        schemas: dict[str, etree.XMLSchema] | None,
    ) -> None:
        super().__init__(address, InsiHandler, ssl_context)
        self.personas = personas
        self.schemas = schemas
        self.log: list[RequestRecord] = []

    def record(self, record: RequestRecord) -> None:
        with self.log_lock:
            self.log.append(record)


class InsiHandler(SandboxRequestHandler):
    server: InsiServer
    server_version = "CaduceeSandboxINSi/1.0"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self.close_connection = True
        self._send(405, b"", "text/plain", extra={"Allow": "POST"})

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/lps":
            self.close_connection = True  # the body is not read: the connection cannot be reused
            self._send(404, b"", "text/plain")
            return
        cn = self._client_cn()
        message_id = ""
        fields: dict[str, Any] = {}
        action = ""
        try:
            data = self._read_body()
            if cn not in ALLOWED_CLIENT_CNS:
                # padoa README: a certificate whose CN is not INSI-AUTO/INSI-MANU → DESIR_560.
                raise SoapFault(
                    code="Sender",
                    subcode="siram_100",
                    reason="Niveau d'accès insuffisant.",
                    detail_code="DESIR_560",
                    detail=_TEXT_DESIR_560,
                )
            http_action = self._http_action()
            parsed = parse_request(data, http_action, self.server.schemas)
            message_id, fields, action = parsed.message_id, parsed.fields, parsed.action
            if not parsed.idam:
                raise SoapFault(
                    code="Sender",
                    subcode="siram_100",
                    reason=_TEXT_SIRAM_100,
                    detail_code="desir_550",
                    detail=_TEXT_DESIR_550,
                )
            self._answer(parsed, cn)
        except SoapFault as fault:
            self.server.record(RequestRecord(time.time(), cn, action, fields, f"fault:{fault.subcode}"))
            self._send(fault.status(), fault_xml(fault, message_id))

    # -- answers ------------------------------------------------------------------------------

    def _answer(self, parsed: ParsedRequest, cn: str) -> None:
        personas = self.server.personas
        special = behaviour_persona(personas, parsed.fields["birth_name"])
        outcome = special["behaviour"] if special else ""
        self.server.record(RequestRecord(time.time(), cn, parsed.action, parsed.fields, outcome or "answer"))
        if special is not None:
            self._misbehave(special, parsed)
            return
        if parsed.action == INSI_ACTION_TRAITS:
            found = match_traits(personas, parsed.fields)
        else:
            found = match_vitale(personas, parsed.fields)
        code = "00" if len(found) == 1 else "01" if not found else "02"
        self._send(200, resultat_xml(code, found[0] if code == "00" else None))

    def _misbehave(self, persona: dict[str, Any], parsed: ParsedRequest) -> None:
        behaviour = persona["behaviour"]
        if behaviour == "fault_siram_40":
            fault = SoapFault(
                code="Receiver",
                subcode="siram_40",
                reason=_TEXT_SIRAM_40,
                detail_code="insi_102",
                detail=_TEXT_INSI_102,
                severity="fatal",
            )
            self._send(500, fault_xml(fault, parsed.message_id))
        elif behaviour == "slow":
            # Interrupted at once when the sandbox stops.
            self.server.stop_event.wait(float(persona.get("delay_seconds", 15)))
            self._send(200, resultat_xml("01"))
        elif behaviour == "http_503":
            self._send(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", "text/html")
        elif behaviour == "garbage":
            self._send(200, b"\x00\x01 ceci n'est pas du XML <<<")
        elif behaviour == "xxe":
            self._send(
                200,
                b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                b'<soap:Envelope xmlns:soap="' + NS_SOAP12.encode() + b'"><soap:Body>'
                b'<RESULTAT xmlns="' + NS_INSI_RESULTAT.encode() + b'"><CR><CodeCR>01</CodeCR>'
                b"<LibelleCR>&x;</LibelleCR></CR></RESULTAT></soap:Body></soap:Envelope>",
            )
        elif behaviour == "wrong_namespace":
            body = resultat_xml("01").replace(NS_INSI_RESULTAT.encode(), b"http://example.org/INSiResultat")
            self._send(200, body)
        elif behaviour == "oversize":
            padding = b"<!-- " + b"x" * (1_100_000) + b" -->"
            self._send(200, resultat_xml("01").replace(b"<soap:Envelope", padding + b"<soap:Envelope", 1))
        else:  # pragma: no cover — a persona file error
            self._send(200, resultat_xml("01"))

    # -- plumbing -----------------------------------------------------------------------------

    def _client_cn(self) -> str:
        connection = self.connection
        cert = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
        subject = cast(tuple[tuple[tuple[str, str], ...], ...], (cert or {}).get("subject", ()))
        for rdn in subject:
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return ""

    def _http_action(self) -> str | None:
        content_type = self.headers.get("Content-Type", "")
        if not content_type.lower().startswith("application/soap+xml"):
            raise _sender(f"Content-Type {content_type!r} : application/soap+xml (SOAP 1.2) attendu.", http_status=415)
        match = re.search(r'action\s*=\s*"?([^";]+)"?', content_type)
        return match.group(1).strip() if match else None

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise _sender("Content-Length obligatoire.", http_status=411)
        if int(length) > MAX_REQUEST_BYTES:
            self.close_connection = True
            raise _sender("Requête trop volumineuse.", http_status=413)
        return self.rfile.read(int(length))


def start_insi_sandbox(
    *,
    ca: Path,
    cert: Path,
    key: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    reference_dir: Path | None = None,
    personas_file: Path = PERSONAS_FILE,
) -> InsiSandbox:
    """Start the INSi sandbox in a daemon thread; port 0 = any free port."""
    server = InsiServer(
        (host, port),
        server_ssl_context(ca=ca, cert=cert, key=key),
        load_personas(personas_file),
        load_schemas(reference_dir),
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="caducee-sandbox-insi", daemon=True
    )
    thread.start()
    bound_host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 — only rewriting for the URL
    url = f"https://{bound_host}:{server.server_address[1]}/lps"
    sandbox = InsiSandbox(server=server, thread=thread, url=url)
    sandbox.requests = server.log  # same list: what the server saw
    logger.debug("Bac à sable INSi : %s", url)
    return sandbox
