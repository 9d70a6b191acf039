"""The sandbox's side of TD0.2 (HL7 v3 PRPA_IN201307UV02 → PRPA_IN201308UV02) and TD0.3 (setAuthorization).

Written from docs/dmp.md §"TD0.2" and §"TD0.3" (request: notes §1.1 table, DRIMbox dmp/request; the HL7 v3 carriers
of the answer are an inference from transaction_td02.md RG_0310, marked so in docs/dmp.md), not from the product's
client: the two meet only on the wire. Requests are read strictly: a message that is not what the DMP expects is a
`ValueError` (a SOAP Sender fault).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from lxml import etree

NS_HL7 = "urn:hl7-org:v3"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_HAB = "urn:si-dmp-habilitations"
_V = f"{{{NS_HL7}}}"
_H = f"{{{NS_HAB}}}"
INTERACTION_SYSTEM = "2.16.840.1.113883.1.6"  # HL7 v3 interaction ids
DMP_DATA_SYSTEM = "1.2.250.1.213.1.1.4.11"  # reasonCode TEST_EXST and the observation codes (docs/dmp.md)
TD03_ACTIONS = ("AJOUT", "SUPPRESSION")


@dataclass(frozen=True)
class Traits:
    """The identity traits the DMP holds for a patient (returned in TD0.2's patientPerson)."""

    birth_name: str = ""
    used_name: str = ""
    given: str = ""
    sex: str = ""
    birth_date: str = ""  # YYYYMMDD


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


def _child(parent: etree._Element, *path: str) -> etree._Element | None:
    node: etree._Element | None = parent
    for tag in path:
        node = node.find(_V + tag) if node is not None else None
    return node


def _sub(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, _V + tag, attrs)


# --- TD0.2 -------------------------------------------------------------------------------------------------------


def parse_td02_request(root: etree._Element) -> tuple[str, str, str]:
    """(message id, query id, INS as CX `matricule^^^&OID&ISO^NH`) of a PRPA_IN201307UV02 asking TEST_EXST."""
    if root.tag != _V + "PRPA_IN201307UV02":
        raise ValueError("Message TD0.2 attendu (PRPA_IN201307UV02).")
    interaction = _child(root, "interactionId")
    if interaction is None or interaction.get("extension") != "PRPA_IN201307UV02":
        raise ValueError("TD0.2 : interactionId PRPA_IN201307UV02 attendu.")
    reason = _child(root, "controlActProcess", "reasonCode")
    if reason is None or (reason.get("code"), reason.get("codeSystem")) != ("TEST_EXST", DMP_DATA_SYSTEM):
        raise ValueError(f"TD0.2 : reasonCode TEST_EXST ({DMP_DATA_SYSTEM}) attendu.")
    message = _child(root, "id")
    query = _child(root, "controlActProcess", "queryByParameter", "queryId")
    value = _child(root, "controlActProcess", "queryByParameter", "parameterList", "patientIdentifier", "value")
    message_id = (message.get("root") or "") if message is not None else ""
    query_id = (query.get("root") or "") if query is not None else ""
    oid = (value.get("root") or "").strip() if value is not None else ""
    matricule = (value.get("extension") or "").strip() if value is not None else ""
    if not (message_id and oid and matricule):
        raise ValueError("Message TD0.2 incomplet (id du message, INS du patient).")
    return message_id, query_id, f"{matricule}^^^&{oid}&ISO^NH"


def _observation(patient: etree._Element, datum: str, xsi_type: str, **value: str) -> etree._Element:
    observation = _sub(_sub(patient, "subjectOf1"), "observation", classCode="OBS", moodCode="EVN")
    _sub(observation, "code", code=datum, codeSystem=DMP_DATA_SYSTEM)
    node = _sub(observation, "value", **value)
    node.set(f"{{{NS_XSI}}}type", xsi_type)
    return observation


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
    traits: Traits | None = None,
    error_code: str = "",
) -> etree._Element:
    """PRPA_IN201308UV02: queryResponseCode OK with the patient and its observations, NF without a DMP, or an AE
    acknowledgement carrying `error_code`."""
    root = etree.Element(_V + "PRPA_IN201308UV02", nsmap={None: NS_HL7, "xsi": NS_XSI}, ITSVersion="XML_1.0")  # type: ignore[dict-item]
    _sub(root, "id", root=str(uuid.uuid4()))
    _sub(root, "creationTime", value=_now())
    _sub(root, "interactionId", root=INTERACTION_SYSTEM, extension="PRPA_IN201308UV02")
    acknowledgement = _sub(root, "acknowledgement")
    _sub(acknowledgement, "typeCode", code="AE" if error_code else "AA")
    _sub(_sub(acknowledgement, "targetMessage"), "id", root=request_id)
    if error_code:
        _sub(_sub(acknowledgement, "acknowledgementDetail", typeCode="E"), "code", code=error_code)
    control = _sub(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    _sub(control, "code", code="PRPA_TE201308UV02", codeSystem=INTERACTION_SYSTEM)
    found = exists and not error_code
    if found:
        state = "active" if active else "completed"
        event = _sub(_sub(control, "subject", typeCode="SUBJ"), "registrationEvent", classCode="REG", moodCode="EVN")
        _sub(event, "statusCode", code=state)
        patient = _sub(_sub(event, "subject1", typeCode="SBJ"), "patient", classCode="PAT")
        matricule, _, rest = ins.partition("^^^&")
        _sub(patient, "id", root=rest.split("&")[0], extension=matricule)
        _sub(patient, "statusCode", code=state)
        who = traits or Traits()
        person = _sub(patient, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
        name = _sub(person, "name")
        if who.birth_name:
            _sub(name, "family", qualifier="BR").text = who.birth_name
        if who.used_name:
            _sub(name, "family", qualifier="SP").text = who.used_name
        if who.given:
            _sub(name, "given").text = who.given
        if who.sex:
            _sub(person, "administrativeGenderCode", code=who.sex)
        if who.birth_date:
            _sub(person, "birthTime", value=who.birth_date)
        authorization_node = _observation(patient, "AUTORISATION", "CS", code=authorization)
        if authorization_until is not None:
            _sub(_sub(authorization_node, "effectiveTime"), "high", value=f"{authorization_until:%Y%m%d}")
        if closed_on is not None:
            _observation(patient, "DATE_FERMETURE", "TS", value=f"{closed_on:%Y%m%d}")
        if closing_reason:
            reason = _observation(patient, "MOTIF_FERMETURE", "ST")
            reason.find(_V + "value").text = closing_reason  # type: ignore[union-attr]
        _observation(patient, "MEDECIN_TRAITANT_DMP", "BL", value="true" if medecin_traitant else "false")
        _observation(patient, "RATTACHEMENT_MES", "BL", value="true" if mes_attached else "false")
    query_ack = _sub(control, "queryAck")
    _sub(query_ack, "queryId", root=query_id)
    _sub(query_ack, "queryResponseCode", code="OK" if found else ("AE" if error_code else "NF"))
    return root


# --- TD0.3 -------------------------------------------------------------------------------------------------------


def parse_td03_request(root: etree._Element) -> str:
    """The action (AJOUT or SUPPRESSION) of a setAuthorization; the patient and professional are in the VIHF."""
    if root.tag != _H + "setAuthorization":
        raise ValueError("Message TD0.3 attendu (setAuthorization).")
    actions = root.findall(_H + "action")
    action = (actions[0].text or "").strip() if len(actions) == 1 else ""
    if action not in TD03_ACTIONS:
        raise ValueError("Message TD0.3 invalide : setAuthorization/action AJOUT ou SUPPRESSION attendu.")
    return action


def td03_response(*, status: str, authorization_end: dt.date | None = None) -> etree._Element:
    root = etree.Element(_H + "setAuthorizationResponse", nsmap={None: NS_HAB})  # type: ignore[dict-item]
    etree.SubElement(root, _H + "status").text = status
    if authorization_end is not None:
        etree.SubElement(root, _H + "authorizationEnd").text = authorization_end.isoformat()
    return root
