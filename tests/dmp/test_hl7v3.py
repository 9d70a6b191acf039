"""TD0.2 / TD0.3 bodies (src/caducee/dmp/hl7v3.py): the client's requests as the DMP sandbox reads them, the
sandbox's answers as the client reads them (two implementations meeting on the wire), errors, hostile values."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from caducee.dmp import hl7v3
from caducee.dmp.api import DmpIdentity, DmpInvalidResponse, DmpRejected
from caducee.sandbox.dmp import hl7v3 as dmp_side
from tests.dmp.dmp_answers import td02_answer, td03_answer

INS = "162018885045327^^^&1.2.250.1.213.1.4.10&ISO^NH"
NS = hl7v3.NS


def reparse(node: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(node))


def test_td02_request_carries_the_ins_and_the_test_reason() -> None:
    request = hl7v3.td02_request(INS, sender_oid="1.2.250.1.999", message_id="m-1", query_id="q-1")
    assert request.tag == "{urn:hl7-org:v3}PRPA_IN201307UV02"
    value = request.find("v3:controlActProcess/v3:queryByParameter/v3:parameterList/v3:patientIdentifier/v3:value", NS)
    assert (value.get("root"), value.get("extension")) == ("1.2.250.1.213.1.4.10", "162018885045327")
    reason = request.find("v3:controlActProcess/v3:reasonCode", NS)
    assert (reason.get("code"), reason.get("codeSystem")) == ("TEST_EXST", "1.2.250.1.213.1.1.4.11")
    assert request.find("v3:receiver/v3:device/v3:id", NS).get("root") == "1.2.250.1.213.4.1"
    assert request.find("v3:sender/v3:device/v3:id", NS).get("root") == "1.2.250.1.999"
    assert dmp_side.parse_td02_request(reparse(request)) == ("m-1", "q-1", INS)


def test_td02_refuses_a_malformed_ins() -> None:
    with pytest.raises(ValueError, match="INS"):
        hl7v3.td02_request("162018885045327", sender_oid="1.2")


def test_td02_round_trip_with_every_datum() -> None:
    traits = dmp_side.Traits(birth_name="DUPONT", used_name="MARTIN", given="Anne", sex="F", birth_date="19800101")
    answer = td02_answer(
        request_id="m-1",
        query_id="q-1",
        ins=INS,
        exists=True,
        active=False,
        authorization="VALIDE",
        authorization_until=dt.date(2026, 9, 1),
        closed_on=dt.date(2026, 1, 2),
        closing_reason="Décès",
        medecin_traitant=True,
        mes_attached=True,
        traits=traits,
    )
    status = hl7v3.parse_td02_response(reparse(answer), INS)
    assert status.exists and not status.active and not status.may_consult
    assert status.authorization == "VALIDE" and status.authorization_until == dt.date(2026, 9, 1)
    assert status.closed_on == dt.date(2026, 1, 2) and status.closing_reason == "Décès"
    assert status.medecin_traitant and status.mes_attached
    assert status.identity == DmpIdentity(
        birth_name="DUPONT", used_name="MARTIN", given="Anne", sex="F", birth_date="19800101"
    )


def test_td02_open_dmp_valid_authorization_may_consult() -> None:
    answer = td02_answer(request_id="m", query_id="q", ins=INS, exists=True, authorization="VALIDE")
    status = hl7v3.parse_td02_response(reparse(answer), INS)
    assert status.may_consult and not status.medecin_traitant


def test_td02_no_dmp_is_nf() -> None:
    answer = td02_answer(request_id="m", query_id="q", ins=INS, exists=False)
    assert answer.find("v3:controlActProcess/v3:queryAck/v3:queryResponseCode", NS).get("code") == "NF"
    status = hl7v3.parse_td02_response(reparse(answer), INS)
    assert (status.exists, status.active, status.authorization) == (False, False, "ABSENTE")


def test_td02_error_acknowledgement_is_a_rejection() -> None:
    answer = td02_answer(request_id="m", query_id="q", ins=INS, exists=True, error_code="DMPPatientIdUnknown")
    with pytest.raises(DmpRejected, match="ne connaît pas") as caught:
        hl7v3.parse_td02_response(reparse(answer), INS)
    assert caught.value.code == "DMPPatientIdUnknown"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.find(".//v3:subjectOf1/v3:observation/v3:value", NS).set("code", "PEUT-ETRE"), "autorisation"),
        (lambda r: r.find(".//v3:queryAck/v3:queryResponseCode", NS).set("code", "QE"), "code de réponse"),
        (lambda r: r.find(".//v3:effectiveTime/v3:high", NS).set("value", "2026XX01"), "date"),
        (lambda r: r.find(".//v3:subject", NS).getparent().remove(r.find(".//v3:subject", NS)), "sans patient"),
    ],
)
def test_td02_unexpected_values_are_invalid(mutate, message) -> None:  # type: ignore[no-untyped-def]
    answer = td02_answer(
        request_id="m", query_id="q", ins=INS, exists=True, authorization="VALIDE", authorization_until=dt.date.today()
    )
    mutate(answer)
    with pytest.raises(DmpInvalidResponse, match=message):
        hl7v3.parse_td02_response(reparse(answer), INS)


def test_td02_wrong_root_is_invalid() -> None:
    with pytest.raises(DmpInvalidResponse):
        hl7v3.parse_td02_response(hl7v3.td02_request(INS, sender_oid="1.2"), INS)


def test_td03_round_trip() -> None:
    request = hl7v3.td03_request("AJOUT")
    assert etree.tostring(request) == (
        b'<setAuthorization xmlns="urn:si-dmp-habilitations"><action>AJOUT</action></setAuthorization>'
    )
    assert dmp_side.parse_td03_request(reparse(request)) == "AJOUT"
    answer = td03_answer(status="OK", authorization_end=dt.date(2026, 12, 1))
    assert hl7v3.parse_td03_response(reparse(answer)) == ("OK", dt.date(2026, 12, 1))
    assert hl7v3.parse_td03_response(reparse(td03_answer(status="INTERDITE")))[0] == "INTERDITE"


def test_td03_errors() -> None:
    with pytest.raises(ValueError):
        hl7v3.td03_request("MODIFICATION")
    with pytest.raises(DmpRejected) as caught:
        hl7v3.parse_td03_response(reparse(td03_answer(status="QUOTA")))
    assert caught.value.code == "QUOTA"
    with pytest.raises(DmpInvalidResponse):
        hl7v3.parse_td03_response(etree.fromstring(b'<setAuthorizationResponse xmlns="urn:autre"/>'))
    with pytest.raises(DmpInvalidResponse):
        hl7v3.parse_td03_response(reparse(td03_answer(status="")))
    with pytest.raises(ValueError, match="setAuthorization"):  # the DMP refuses what is not a request
        dmp_side.parse_td03_request(reparse(td03_answer(status="OK")))
