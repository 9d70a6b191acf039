"""TD0.2 (HL7 v3 PRPA_IN201307UV02 / PRPA_IN201308UV02) and TD0.3 (setAuthorization): the client's side.

Shapes: docs/dmp.md §"TD0.2" and §"TD0.3" (request: notes §1.1 table, DRIMbox dmp/request; response carriers are our
inference from transaction_td02.md RG_0310). The client builds the requests and parses the answers; the answers are
the DMP's (the sandbox writes its own, `caducee.sandbox.dmp.hl7v3`), so a misreading here is not mirrored there.
"""

from __future__ import annotations

import datetime as dt
import uuid

from lxml import etree

from caducee.dmp.api import DmpIdentity, DmpInvalidResponse, DmpPatientStatus, DmpRejected

NS_HL7 = "urn:hl7-org:v3"
NS_HAB = "urn:si-dmp-habilitations"
_V = f"{{{NS_HL7}}}"
_H = f"{{{NS_HAB}}}"
NS = {"v3": NS_HL7, "hab": NS_HAB}

INTERACTION_SYSTEM = "2.16.840.1.113883.1.6"
DMP_DEVICE_OID = "1.2.250.1.213.4.1"  # receiver device (docs/dmp.md)
DMP_DATA_SYSTEM = "1.2.250.1.213.1.1.4.11"  # reasonCode TEST_EXST and the observation codes
AUTHORIZATIONS = ("VALIDE", "EXPIREE", "ABSENTE", "INTERDITE")

# TD0.3 statuses other than OK (docs/dmp.md, inference): the DMP state they describe, in French.
TD03_STATUSES = {
    "INTERDITE": "le patient a bloqué l'accès de ce professionnel à son DMP.",
    "DMP_FERME": "le DMP de ce patient est fermé.",
    "DMP_INEXISTANT": "ce patient n'a pas de DMP.",
}


def split_ins(ins: str) -> tuple[str, str]:
    """(matricule, OID) of a CX `matricule^^^&OID&ISO^NH`."""
    parts = ins.split("^")
    authority = parts[3].split("&") if len(parts) > 3 else []
    if len(parts) < 5 or not parts[0] or len(authority) < 2 or not authority[1]:
        raise ValueError(f"INS attendu sous la forme matricule^^^&OID&ISO^NH : « {ins} ».")
    return parts[0], authority[1]


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


def _sub(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, _V + tag, attrs)


def _device(parent: etree._Element, tag: str, type_code: str, oid: str) -> None:
    device = _sub(_sub(parent, tag, typeCode=type_code), "device", classCode="DEV", determinerCode="INSTANCE")
    _sub(device, "id", root=oid)


# --- TD0.2 request ---------------------------------------------------------------------------------------------


def td02_request(
    ins: str, *, sender_oid: str, message_id: str | None = None, query_id: str | None = None
) -> etree._Element:
    """PRPA_IN201307UV02 asking whether the patient `ins` has a DMP (reasonCode TEST_EXST)."""
    matricule, oid = split_ins(ins)
    root = etree.Element(_V + "PRPA_IN201307UV02", nsmap={None: NS_HL7}, ITSVersion="XML_1.0")  # type: ignore[dict-item]
    _sub(root, "id", root=message_id or str(uuid.uuid4()))
    _sub(root, "creationTime", value=_now())
    _sub(root, "interactionId", root=INTERACTION_SYSTEM, extension="PRPA_IN201307UV02")
    _sub(root, "processingCode", code="P")
    _sub(root, "processingModeCode", code="T")
    _sub(root, "acceptAckCode", code="AL")
    _device(root, "receiver", "RCV", DMP_DEVICE_OID)
    _device(root, "sender", "SND", sender_oid)
    control = _sub(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    _sub(control, "code", code="PRPA_TE201307UV02", codeSystem=INTERACTION_SYSTEM)
    _sub(control, "reasonCode", code="TEST_EXST", codeSystem=DMP_DATA_SYSTEM)
    query = _sub(control, "queryByParameter")
    _sub(query, "queryId", root=query_id or str(uuid.uuid4()))
    _sub(query, "statusCode", code="new")
    _sub(query, "responsePriorityCode", code="I")
    parameter = _sub(_sub(query, "parameterList"), "patientIdentifier")
    _sub(parameter, "value", root=oid, extension=matricule)
    _sub(parameter, "semanticsText").text = "Patient.id"
    return root


def _attr(node: etree._Element, path: str, name: str) -> str:
    found = node.find(path, namespaces=NS)
    return (found.get(name) or "") if found is not None else ""


# --- TD0.2 answer --------------------------------------------------------------------------------------------


def _date(value: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError as exc:
        raise DmpInvalidResponse(f"réponse TD0.2 : date illisible « {value} ».") from exc


def _bool(value: str) -> bool:
    if value not in ("true", "false"):
        raise DmpInvalidResponse(f"réponse TD0.2 : booléen illisible « {value} ».")
    return value == "true"


def parse_td02_response(root: etree._Element, ins: str) -> DmpPatientStatus:
    """DmpPatientStatus of a PRPA_IN201308UV02; AE → DmpRejected(code=acknowledgementDetail/code)."""
    if root.tag != _V + "PRPA_IN201308UV02":
        raise DmpInvalidResponse("réponse TD0.2 inattendue : PRPA_IN201308UV02 attendu.")
    ack = _attr(root, "v3:acknowledgement/v3:typeCode", "code")
    if ack != "AA":
        code = _attr(root, "v3:acknowledgement/v3:acknowledgementDetail/v3:code", "code") or ack
        if code == "DMPPatientIdUnknown":
            raise DmpRejected("Le DMP ne connaît pas cet INS.", code=code)
        raise DmpRejected(f"Le DMP a refusé la demande de statut du dossier ({code or 'erreur'}).", code=code)
    response_code = _attr(root, "v3:controlActProcess/v3:queryAck/v3:queryResponseCode", "code")
    if response_code == "NF":
        return DmpPatientStatus(ins=ins, exists=False, active=False, authorization="ABSENTE")
    if response_code != "OK":
        raise DmpInvalidResponse(f"réponse TD0.2 : code de réponse inattendu « {response_code} ».")
    event = root.find("v3:controlActProcess/v3:subject/v3:registrationEvent", NS)
    patient = event.find("v3:subject1/v3:patient", NS) if event is not None else None
    if event is None or patient is None:
        raise DmpInvalidResponse("réponse TD0.2 sans patient.")
    values: dict[str, etree._Element] = {}
    for obs in patient.iterfind("v3:subjectOf1/v3:observation", NS):
        code = _attr(obs, "v3:code", "code")
        if code:
            values[code] = obs
    auth_obs = values.get("AUTORISATION")
    authorization = _attr(auth_obs, "v3:value", "code") if auth_obs is not None else "ABSENTE"
    if authorization not in AUTHORIZATIONS:
        raise DmpInvalidResponse(f"réponse TD0.2 : autorisation inconnue « {authorization} ».")

    def value(code: str, attr: str = "value") -> str:
        obs = values.get(code)
        return _attr(obs, "v3:value", attr) if obs is not None else ""

    closing = values.get("MOTIF_FERMETURE")
    person = patient.find("v3:patientPerson", NS)
    identity = DmpIdentity()
    if person is not None:
        identity = DmpIdentity(
            birth_name=person.findtext("v3:name/v3:family[@qualifier='BR']", default="", namespaces=NS),
            used_name=person.findtext("v3:name/v3:family[@qualifier='SP']", default="", namespaces=NS),
            given=person.findtext("v3:name/v3:given", default="", namespaces=NS),
            sex=_attr(person, "v3:administrativeGenderCode", "code"),
            birth_date=_attr(person, "v3:birthTime", "value"),
        )
    return DmpPatientStatus(
        ins=ins,
        exists=True,
        active=_attr(event, "v3:statusCode", "code") == "active",
        authorization=authorization,
        authorization_until=_date(_attr(auth_obs, "v3:effectiveTime/v3:high", "value"))
        if auth_obs is not None
        else None,
        closed_on=_date(value("DATE_FERMETURE")),
        closing_reason=(closing.findtext("v3:value", default="", namespaces=NS) if closing is not None else "").strip(),
        medecin_traitant=_bool(value("MEDECIN_TRAITANT_DMP") or "false"),
        mes_attached=_bool(value("RATTACHEMENT_MES") or "false"),
        identity=identity,
    )


# --- TD0.3 -----------------------------------------------------------------------------------------------------


def td03_request(action: str) -> etree._Element:
    """`setAuthorization` (AJOUT / SUPPRESSION); the patient and professional are in the VIHF."""
    if action not in ("AJOUT", "SUPPRESSION"):
        raise ValueError(f"action d'autorisation inconnue : {action}")
    root = etree.Element(_H + "setAuthorization", nsmap={None: NS_HAB})  # type: ignore[dict-item]
    etree.SubElement(root, _H + "action").text = action
    return root


def parse_td03_response(root: etree._Element) -> tuple[str, dt.date | None]:
    """(status, authorization end). Unknown non-OK status → DmpRejected; known ones are returned to the caller."""
    if root.tag != _H + "setAuthorizationResponse":
        raise DmpInvalidResponse("réponse TD0.3 inattendue : setAuthorizationResponse attendu.")
    status = (root.findtext("hab:status", default="", namespaces=NS) or "").strip()
    end_text = (root.findtext("hab:authorizationEnd", default="", namespaces=NS) or "").strip()
    try:
        end = dt.date.fromisoformat(end_text) if end_text else None
    except ValueError as exc:
        raise DmpInvalidResponse(f"réponse TD0.3 : date illisible « {end_text} ».") from exc
    if not status:
        raise DmpInvalidResponse("réponse TD0.3 sans statut.")
    if status != "OK" and status not in TD03_STATUSES:
        raise DmpRejected(f"Le DMP a refusé l'autorisation d'accès ({status}).", code=status)
    return status, end
