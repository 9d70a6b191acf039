"""TD0.2 (HL7 v3 PRPA_IN201307UV02 / PRPA_IN201308UV02) and TD0.3 (setAuthorization) bodies.

Shapes: docs/dmp.md §"TD0.2" and §"TD0.3" (request: notes §1.1 table, DRIMbox dmp/request; response carriers are our
inference from transaction_td02.md RG_0310). Both directions are here: the client builds requests and parses
responses, the sandbox (`caducee.sandbox.dmp`) parses requests and builds responses with `td02_response` /
`td03_response`, so the two can never drift apart.
"""

from __future__ import annotations

import datetime as dt
import uuid

from lxml import etree

from caducee.dmp.api import DmpIdentity, DmpInvalidResponse, DmpPatientStatus, DmpRejected

NS_HL7 = "urn:hl7-org:v3"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_HAB = "urn:si-dmp-habilitations"
_V = f"{{{NS_HL7}}}"
_H = f"{{{NS_HAB}}}"
_XSI_TYPE = f"{{{NS_XSI}}}type"
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


def parse_td02_request(root: etree._Element) -> tuple[str, str, str]:
    """(message id, query id, INS CX) of a PRPA_IN201307UV02: what the sandbox needs to answer."""
    if root.tag != _V + "PRPA_IN201307UV02":
        raise DmpInvalidResponse("message TD0.2 attendu (PRPA_IN201307UV02).")
    message_id = _attr(root, "v3:id", "root")
    query_id = _attr(root, "v3:controlActProcess/v3:queryByParameter/v3:queryId", "root")
    path = "v3:controlActProcess/v3:queryByParameter/v3:parameterList/v3:patientIdentifier/v3:value"
    oid, matricule = _attr(root, path, "root"), _attr(root, path, "extension")
    if not (message_id and oid and matricule):
        raise DmpInvalidResponse("message TD0.2 incomplet (id, INS).")
    return message_id, query_id, f"{matricule}^^^&{oid}&ISO^NH"


def _attr(node: etree._Element, path: str, name: str) -> str:
    found = node.find(path, namespaces=NS)
    return (found.get(name) or "") if found is not None else ""


# --- TD0.2 response --------------------------------------------------------------------------------------------


def _observation(patient: etree._Element, datum: str, xsi_type: str, **value: str) -> etree._Element:
    obs = _sub(_sub(patient, "subjectOf1"), "observation", classCode="OBS", moodCode="EVN")
    _sub(obs, "code", code=datum, codeSystem=DMP_DATA_SYSTEM)
    node = _sub(obs, "value", **value)
    node.set(_XSI_TYPE, xsi_type)
    return obs


def td02_response(
    *,
    request_id: str,
    query_id: str,
    ins: str,
    exists: bool,
    active: bool = True,
    authorization: str = "ABSENTE",
    authorization_until: dt.date | None = None,
    closed_on: dt.date | None = None,
    closing_reason: str = "",
    medecin_traitant: bool = False,
    mes_attached: bool = False,
    identity: DmpIdentity | None = None,
    error_code: str | None = None,
) -> etree._Element:
    """PRPA_IN201308UV02 (keyword args mirror DmpPatientStatus). `error_code` gives an AE acknowledgement."""
    root = etree.Element(
        _V + "PRPA_IN201308UV02",
        nsmap={None: NS_HL7, "xsi": NS_XSI},  # type: ignore[dict-item]
        ITSVersion="XML_1.0",
    )
    _sub(root, "id", root=str(uuid.uuid4()))
    _sub(root, "creationTime", value=_now())
    _sub(root, "interactionId", root=INTERACTION_SYSTEM, extension="PRPA_IN201308UV02")
    ack = _sub(root, "acknowledgement")
    _sub(ack, "typeCode", code="AE" if error_code else "AA")
    _sub(_sub(ack, "targetMessage"), "id", root=request_id)
    if error_code:
        _sub(_sub(ack, "acknowledgementDetail", typeCode="E"), "code", code=error_code)
    control = _sub(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    _sub(control, "code", code="PRPA_TE201308UV02", codeSystem=INTERACTION_SYSTEM)
    if exists and not error_code:
        event = _sub(_sub(control, "subject", typeCode="SUBJ"), "registrationEvent", classCode="REG", moodCode="EVN")
        _sub(event, "statusCode", code="active" if active else "completed")
        patient = _sub(_sub(event, "subject1", typeCode="SBJ"), "patient", classCode="PAT")
        matricule, oid = split_ins(ins)
        _sub(patient, "id", root=oid, extension=matricule)
        _sub(patient, "statusCode", code="active" if active else "completed")
        who = identity or DmpIdentity()
        person = _sub(patient, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
        name = _sub(person, "name")
        for qualifier, value in (("BR", who.birth_name), ("SP", who.used_name)):
            if value:
                _sub(name, "family", qualifier=qualifier).text = value
        if who.given:
            _sub(name, "given").text = who.given
        if who.sex:
            _sub(person, "administrativeGenderCode", code=who.sex)
        if who.birth_date:
            _sub(person, "birthTime", value=who.birth_date)
        obs = _observation(patient, "AUTORISATION", "CS", code=authorization)
        if authorization_until:
            _sub(_sub(obs, "effectiveTime"), "high", value=authorization_until.strftime("%Y%m%d"))
        if closed_on:
            _observation(patient, "DATE_FERMETURE", "TS", value=closed_on.strftime("%Y%m%d"))
        if closing_reason:
            _observation(patient, "MOTIF_FERMETURE", "ST").find("v3:value", NS).text = closing_reason  # type: ignore[union-attr]
        _observation(patient, "MEDECIN_TRAITANT_DMP", "BL", value="true" if medecin_traitant else "false")
        _observation(patient, "RATTACHEMENT_MES", "BL", value="true" if mes_attached else "false")
    query_ack = _sub(control, "queryAck")
    _sub(query_ack, "queryId", root=query_id)
    _sub(query_ack, "queryResponseCode", code="OK" if exists and not error_code else ("AE" if error_code else "NF"))
    return root


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


def parse_td03_request(root: etree._Element) -> str:
    """The action of a setAuthorization (for the sandbox)."""
    action = root.findtext("hab:action", default="", namespaces=NS) if root.tag == _H + "setAuthorization" else ""
    if action not in ("AJOUT", "SUPPRESSION"):
        raise DmpInvalidResponse("message TD0.3 invalide (setAuthorization/action AJOUT ou SUPPRESSION attendu).")
    return action


def td03_response(*, status: str = "OK", authorization_end: dt.date | None = None) -> etree._Element:
    root = etree.Element(_H + "setAuthorizationResponse", nsmap={None: NS_HAB})  # type: ignore[dict-item]
    etree.SubElement(root, _H + "status").text = status
    if authorization_end:
        etree.SubElement(root, _H + "authorizationEnd").text = authorization_end.isoformat()
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
