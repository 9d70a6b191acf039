"""The INSi sandbox: its PKI, its personas, answers shaped like the CNAM's, requests checked like the CNAM does."""

from __future__ import annotations

import ast
import csv
import logging
import re
import stat
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import settings
from lxml import etree

from caducee.core.oids import INSI_ACTION_TRAITS, INSI_ACTION_VITALE, NS_CTXLPS, NS_SOAP12, NS_WSA, OID_INS_NIR_TEST
from caducee.identity.insi.messages import LpsContext, build_traits_request
from caducee.identity.matricule import compute_key
from caducee.sandbox import insi as sandbox_insi
from caducee.sandbox.pki import CLIENT_CN, ensure_pki

REFERENCE = Path(settings.REFERENCE_DIR) / "ins"
CONTEXT = LpsContext(idam="TESTSGIE0000", software_name="Caducee", software_version="0.1.0", instance="i")
SOAP12_CT = f'application/soap+xml; charset=utf-8; action="{INSI_ACTION_TRAITS}"'


def _post(handle, data: bytes, content_type: str = SOAP12_CT) -> requests.Response:
    return requests.post(
        handle.insi.url,
        data=data,
        headers={"Content-Type": content_type},
        cert=(str(handle.pki.client_cert), str(handle.pki.client_key)),
        verify=str(handle.pki.ca_cert),
        timeout=5,
    )


def _valid_request(**overrides) -> bytes:
    traits = {
        "birth_name": "ADRTROIS",
        "given_names": ["DOMINIQUE"],
        "sex": "F",
        "birth_date": "1997-02-26",
        "birthplace_cog": None,
    }
    traits.update(overrides)
    return build_traits_request(context=CONTEXT, **traits).xml


def _fault(response: requests.Response) -> tuple[str, str, str]:
    root = etree.fromstring(response.content)
    soap = f"{{{NS_SOAP12}}}"
    fault = root.find(f"{soap}Body/{soap}Fault")
    assert fault is not None, response.text
    code = fault.findtext(f"{soap}Code/{soap}Value") or ""
    subcode = fault.findtext(f"{soap}Code/{soap}Subcode/{soap}Value") or ""
    erreur = fault.find(f"{soap}Detail/{{urn:siram}}Erreur")
    return code, subcode, (erreur.get("code", "") if erreur is not None else "")


def _resultat(data: bytes) -> etree._Element:
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    root = etree.fromstring(data, parser)
    return root[0][0]


# ---------------------------------------------------------------------------------------------
# PKI (the runner and `caducee sandbox`: tests/sandbox/test_runner.py)


def test_pki_is_created_once_with_private_keys_0600(insi_sandbox_session):
    pki = insi_sandbox_session.pki
    for key in (pki.ca_key, pki.server_key, pki.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = pki.client_cert.read_bytes()
    assert ensure_pki(insi_sandbox_session.data_dir).client_cert.read_bytes() == before
    client = x509.load_pem_x509_certificate(pki.client_cert.read_bytes())
    server = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CLIENT_CN == "INSI-MANU"
    assert client.issuer == ca.subject == server.issuer
    client.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def test_without_the_reference_kit_the_sandbox_warns_and_still_answers(tmp_path, caplog):
    pki = ensure_pki(tmp_path)
    with caplog.at_level(logging.WARNING, logger="caducee.sandbox.insi"):
        server = sandbox_insi.start_insi_sandbox(
            ca=pki.ca_cert, cert=pki.server_cert, key=pki.server_key, reference_dir=tmp_path / "absent"
        )
    try:
        assert "XSD officiels introuvables" in caplog.text
        response = requests.post(
            server.url,
            data=_valid_request(),
            headers={"Content-Type": SOAP12_CT},
            cert=(str(pki.client_cert), str(pki.client_key)),
            verify=str(pki.ca_cert),
            timeout=5,
        )
        assert response.status_code == 200 and b"<CodeCR>00</CodeCR>" in response.content
    finally:
        server.stop()


def test_the_sandbox_imports_nothing_from_the_product_but_shared_constants():
    # DESIGN.md « Layout »: each stand-in parses and builds its messages with its own code (INSi, DMP...), so a
    # mistake in a client cannot be mirrored by the sandbox. Only modules of constants are shared.
    allowed = {"caducee.core.oids"}
    root = Path(sandbox_insi.__file__).parent
    for path in root.rglob("*.py"):
        if "management" in path.parts:
            continue  # the Django command is the product's entry point, not the sandbox proper
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom) and node.module in ("caducee", "caducee.core"):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                if name.startswith("caducee.") and not name.startswith("caducee.sandbox"):
                    assert name in allowed, f"{path.name} importe {name}"


# ---------------------------------------------------------------------------------------------
# Personas


def _personas() -> dict[str, dict]:
    return {p["id"]: p for p in sandbox_insi.load_personas()}


def test_every_csv_persona_with_an_ins_is_carried_exactly():
    by_name = {(p["birth_name"], p.get("given_names")): p for p in _personas().values()}
    rows = [
        row
        for row in csv.reader(
            (line for line in (REFERENCE / "test_identities_insi.csv").open(encoding="utf-8") if line[0] != "#"),
            delimiter=";",
        )
        if row and row[7]
    ]
    assert len(rows) == 11
    for row in rows:
        name, _sent, liste, sex, born, _lieu, _cr, matricule, key, oid = row[:10]
        # The INSHISTO column itself holds " ; "-separated entries, so it spans several CSV cells.
        histo_csv = [m.group(1) for cell in row[10:] if (m := re.match(r"\s*([0-9AB]{13}/\d{2})", cell))]
        persona = next(p for (n, _), p in by_name.items() if n == name and p["matricule"] == matricule)
        assert (persona["key"], persona["oid"], persona["sex"], persona["birth_date"]) == (
            key,
            oid.removeprefix("urn:oid:"),
            sex,
            born,
        )
        if liste:
            assert persona["given_names"] == liste
        assert [f"{h['matricule']}/{h['key']}" for h in persona["history"]] == histo_csv


def test_keys_are_valid_except_hermann_kept_as_the_cnda_sends_it():
    for persona in _personas().values():
        if "matricule" not in persona:
            continue
        valid = compute_key(persona["matricule"]) == persona["key"]
        if persona["id"] == "hermann-gatien":
            assert not valid and "refuse" in persona["note"]
        else:
            assert valid, persona["id"]


def test_invented_personas_carry_the_test_nir_oid():
    for persona in _personas().values():
        if persona["source"].startswith("Caducée (démonstration)"):
            assert persona["oid"] == OID_INS_NIR_TEST, persona["id"]


# ---------------------------------------------------------------------------------------------
# Answers shaped like the recorded CNDA answers


@pytest.mark.parametrize(
    ("recorded", "request_traits"),
    [
        ("TEST_2.04_cas2.xml", {"birth_name": "ECETINSI", "given_names": ["PIERRE-ALAIN"], "sex": "M",
                                "birth_date": "2009-07-14"}),
        ("TEST_2.05.xml", {"birth_name": "PROVISOIRE", "given_names": ["MATRICULE"], "sex": "M",
                           "birth_date": "2009-07-01"}),
        ("REP_CR01.xml", {"birth_name": "HOUILLES", "given_names": ["PIERRE"], "sex": "M",
                          "birth_date": "1993-01-27"}),
    ],
)  # fmt: skip
def test_answers_are_identical_to_the_recorded_ones(insi_sandbox_session, recorded, request_traits):
    response = _post(insi_sandbox_session, _valid_request(**request_traits))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/soap+xml")
    expected = _resultat((REFERENCE / "insi-responses" / recorded).read_bytes())
    assert etree.tostring(_resultat(response.content), method="c14n") == etree.tostring(expected, method="c14n")


def test_answers_validate_against_the_official_result_xsd(insi_sandbox_session):
    schema = etree.XMLSchema(
        etree.parse(str(REFERENCE / "insi-wsdl/xsd/ServiceIdentiteCertifiee/INSi_RESULTAT_INS.xsd"))
    )
    for traits in (
        {},
        {"birth_name": "NESSI", "given_names": ["MICHELANGELO"], "sex": "M", "birth_date": "2010-08-07"},
        {"birth_name": "MARTIN", "given_names": ["CAMILLE"], "sex": "F", "birth_date": "1990-04-12"},
    ):
        resultat = _resultat(_post(insi_sandbox_session, _valid_request(**traits)).content)
        assert schema.validate(resultat), schema.error_log


def test_idam_fault_detail_validates_against_the_official_fault_xsd(insi_sandbox_session):
    schema = etree.XMLSchema(etree.parse(str(REFERENCE / "insi-wsdl/xsd/schema_faultSOAP_V01_01.xsd")))
    data = _valid_request().replace(b'R="4">TESTSGIE0000<', b'R="4"><')
    response = _post(insi_sandbox_session, data)
    assert response.status_code == 400
    assert _fault(response) == ("soap:Sender", "soap:siram_100", "desir_550")
    erreur = etree.fromstring(response.content).find(".//{urn:siram}Erreur")
    assert schema.validate(erreur), schema.error_log


# ---------------------------------------------------------------------------------------------
# Requests are checked like the real service does


def _mutate(xpath: str, change) -> bytes:
    root = etree.fromstring(_valid_request())
    ns = {"soap": NS_SOAP12, "l": NS_CTXLPS, "wsa": NS_WSA, "r": "http://www.cnamts.fr/INSiRecSans"}
    change(root.xpath(xpath, namespaces=ns)[0])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _add_second_sexe(body: etree._Element) -> None:
    sexe = body.find("{http://www.cnamts.fr/INSiRecSans}Sexe")
    sexe.addnext(etree.fromstring('<Sexe xmlns="http://www.cnamts.fr/INSiRecSans">M</Sexe>'))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_mutate("//r:RECSANSVITALE", _add_second_sexe), "RECSANSVITALE non conforme au XSD"),
        (
            _mutate("//r:RECSANSVITALE", lambda e: e.append(etree.Element("{http://www.cnamts.fr/INSiRecSans}Age"))),
            "RECSANSVITALE non conforme au XSD",
        ),
        (_mutate("//l:ContexteLPS", lambda e: e.attrib.pop("Version")), "ContexteLPS non conforme au XSD"),
        (_mutate("//l:ContexteLPS/l:Temps", lambda e: setattr(e, "text", "hier")), "ContexteLPS non conforme"),
        (_mutate("//soap:Header/*[3]", lambda e: e.getparent().remove(e)), "ContexteBAM absent"),
        (_mutate("//wsa:Action", lambda e: setattr(e, "text", INSI_ACTION_VITALE)), "action"),
        (_mutate("//wsa:MessageID", lambda e: e.getparent().remove(e)), "MessageID absent"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', "DTD interdite"),
        (b"<pas-du-xml", "XML mal formé"),
    ],
)
def test_non_conforming_requests_get_a_sender_fault(insi_sandbox_session, data, why):
    response = _post(insi_sandbox_session, data)
    assert response.status_code == 400
    code, subcode, _ = _fault(response)
    assert code == "soap:Sender" and subcode
    assert why in response.content.decode()


def test_http_action_must_match_wsa_action(insi_sandbox_session):
    content_type = f'application/soap+xml; charset=utf-8; action="{INSI_ACTION_VITALE}"'
    response = _post(insi_sandbox_session, _valid_request(), content_type)
    assert response.status_code == 400 and "diffère de wsa:Action" in response.text


def test_soap_11_gets_version_mismatch_and_text_xml_is_refused(insi_sandbox_session):
    soap11 = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>'
    response = _post(insi_sandbox_session, soap11)
    assert _fault(response)[0] == "soap:VersionMismatch"
    response = _post(insi_sandbox_session, _valid_request(), "text/xml; charset=utf-8")
    assert response.status_code == 415


def test_only_post_on_lps(insi_sandbox_session):
    handle = insi_sandbox_session
    tls = {"cert": (str(handle.pki.client_cert), str(handle.pki.client_key)), "verify": str(handle.pki.ca_cert)}
    assert requests.get(handle.insi.url, timeout=5, **tls).status_code == 405
    other = handle.insi.url.replace("/lps", "/autre")
    assert requests.post(other, data=b"x", timeout=5, **tls).status_code == 404


def test_matching_follows_the_cnam_rules(insi_sandbox_session):
    def code(**traits) -> str:
        return _resultat(_post(insi_sandbox_session, _valid_request(**traits)).content)[0][0].text

    assert code() == "00"
    assert code(given_names=["DOMINIQUE"], birthplace_cog="2A020") == "00"
    assert code(birthplace_cog="2B020") == "01"  # a given birthplace must match
    assert code(sex="M") == "01"
    assert code(birth_date="1997-02-27") == "01"
    assert code(birth_name="ADRTROIX") == "01"
    nessi = {"birth_name": "NESSI", "sex": "M", "birth_date": "2010-08-07"}
    assert code(given_names=["ANTHONY"], **nessi) == "00"  # any one of the prénoms
    assert code(given_names=["MICHELANGELO ANTHONY"], **nessi) == "00"  # or the whole list
    assert code(given_names=["MICHEL"], **nessi) == "01"
