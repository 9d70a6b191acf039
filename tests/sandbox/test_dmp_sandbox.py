"""DMP sandbox: transport, VIHF checks, TD0.2 / TD0.3, patients of dmp_patients.json, fault injection."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
import requests
from cryptography import x509
from lxml import etree

from caducee.core.oids import OID_INS_NIR
from caducee.dmp import hl7v3
from caducee.sandbox.dmp.checks import NS_WSSE
from caducee.sandbox.dmp.server import ACTION_TD02
from caducee.sandbox.pki import ensure_pki
from tests.sandbox.dmp_client import DR_BERNARD, DR_MARTIN, Professional, SandboxClient, ins
from tests.sandbox.fixtures import dmp_state

OPEN = "101063417209334"  # D'ARTAGNAN DE L'HERAULT: open DMP
CLOSED = "158115935021709"  # LEFEBVRE: closed
NO_DMP = "135123306351281"  # ROUSSEAU: objected to its creation
BLOCKED_ALL = "275029924305117"  # NGUYEN: blocks every professional
BLOCKED_BERNARD = "101093155542875"  # GARCIA: blocks dr.bernard only
DIVERGENT = "290046912304544"  # MARTIN CAMILLE: the DMP says CAMILLA
UNKNOWN = "299991234567890"  # not in any file: open DMP (opt-out creation)


@pytest.fixture
def client(dmp_sandbox, insi_sandbox_session):
    session = requests.Session()
    yield SandboxClient(dmp_state(dmp_sandbox, insi_sandbox_session.data_dir), session=session)
    session.close()


def status(client: SandboxClient, matricule: str, pro: Professional = DR_MARTIN):
    reply = client.td02(pro, ins(matricule))
    assert reply.status == 200, reply.raw[:400]
    return hl7v3.parse_td02_response(reply.body, ins(matricule))


# ---------------------------------------------------------------------------------------------
# PKI (the runner: tests/sandbox/test_runner.py)


def test_pki_issues_dmp_authentication_and_signature_certificates(insi_sandbox_session):
    pki = ensure_pki(insi_sandbox_session.data_dir)
    assert pki.dmp_sign_cert and pki.dmp_sign_key and pki.dmp_client_cert and pki.dmp_client_key
    sign = x509.load_pem_x509_certificate(pki.dmp_sign_cert.read_bytes())
    usage = sign.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_encipherment
    auth = x509.load_pem_x509_certificate(pki.dmp_client_cert.read_bytes())
    assert auth.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    for key in (pki.dmp_sign_key, pki.dmp_client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


# ---------------------------------------------------------------------------------------------
# Transport


def test_wrong_path_method_content_type_and_size(dmp_sandbox, client):
    kwargs = {"cert": client.cert, "verify": client.ca}
    assert requests.post(f"{dmp_sandbox.url}/nowhere", data=b"x", timeout=5, **kwargs).status_code == 404
    assert requests.get(f"{dmp_sandbox.url}/patients", timeout=5, **kwargs).status_code == 405
    wrong_type = requests.post(
        f"{dmp_sandbox.url}/patients", data=b"<a/>", headers={"Content-Type": "text/xml"}, timeout=5, **kwargs
    )
    assert wrong_type.status_code == 415
    too_big = requests.post(
        f"{dmp_sandbox.url}/repository",
        data=b"x" * (25 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/soap+xml"},
        timeout=30,
        **kwargs,
    )
    assert too_big.status_code == 413


def test_client_certificate_is_required(dmp_sandbox, client):
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(f"{dmp_sandbox.url}/patients", data=b"<a/>", verify=client.ca, timeout=5)


def test_action_must_match_the_service(client):
    body = hl7v3.td02_request(ins(OPEN), sender_oid="1.2.3")
    reply = client.post("registry", ACTION_TD02, body, pro=DR_MARTIN, patient=ins(OPEN))
    assert reply.status == 400
    assert reply.fault[0] == "soap:Sender" and "inconnue du service" in reply.fault[2]


def test_missing_ws_addressing_is_a_sender_fault(client):
    body = hl7v3.td02_request(ins(OPEN), sender_oid="1.2.3")
    env = etree.fromstring(
        b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header/><soap:Body/></soap:Envelope>'
    )
    env[1].append(body)
    env[0].append(etree.Element(f"{{{NS_WSSE}}}Security"))
    response = requests.post(
        f"{client.base_url}/patients",
        data=etree.tostring(env),
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
        cert=client.cert,
        verify=client.ca,
        timeout=5,
    )
    assert response.status_code == 400
    assert b"WS-Addressing" in response.content


# ---------------------------------------------------------------------------------------------
# VIHF


def _subcode(reply) -> str:
    assert reply.fault is not None, reply.raw[:300]
    return reply.fault[1]


def test_vihf_missing_or_unsigned(client):
    assert _subcode(client.td02(DR_MARTIN, ins(OPEN), no_security=True)) == "wsse:InvalidSecurityToken"
    unsigned = client.vihf(DR_MARTIN, ins(OPEN), sign=False)
    reply = client.td02(DR_MARTIN, ins(OPEN), assertion=unsigned)
    assert _subcode(reply) == "wsse:InvalidSecurityToken" and "non signé" in reply.fault[2]


def test_vihf_tampered_after_signature(client):
    assertion = client.vihf(DR_MARTIN, ins(OPEN))
    assertion.find(
        "{urn:oasis:names:tc:SAML:2.0:assertion}Subject/{urn:oasis:names:tc:SAML:2.0:assertion}NameID"
    ).text = DR_BERNARD.national_id
    reply = client.td02(DR_MARTIN, ins(OPEN), assertion=assertion)
    assert reply.status == 400 and _subcode(reply) == "wsse:InvalidSecurityToken"


def test_vihf_expired(client):
    old = client.vihf(DR_MARTIN, ins(OPEN), now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    reply = client.td02(DR_MARTIN, ins(OPEN), assertion=old)
    assert _subcode(reply) == "wsse:FailedAuthentication" and "expiré" in reply.fault[2]


def test_vihf_signed_by_a_certificate_of_another_ca(client, tmp_path):
    other = ensure_pki(tmp_path / "other")
    foreign = client.vihf(
        DR_MARTIN, ins(OPEN), sign_key=other.dmp_sign_key.read_bytes(), sign_cert=other.dmp_sign_cert.read_bytes()
    )
    assert _subcode(client.td02(DR_MARTIN, ins(OPEN), assertion=foreign)) == "wsse:InvalidSecurityToken"


def test_vihf_attributes_checked(client):
    bad_mode = Professional("889970012345", "Claire MARTIN", auth_mode="DIRECTE")
    assert client.td02(bad_mode, ins(OPEN)).fault is None  # DIRECTE is accepted
    wrong_patient = client.vihf(DR_MARTIN, ins(UNKNOWN))
    reply = client.td02(DR_MARTIN, ins(OPEN), assertion=wrong_patient)
    assert _subcode(reply) == "wsse:FailedAuthentication" and "resource-id" in reply.fault[2]
    bad_sector = client.vihf(DR_MARTIN, ins(OPEN), sector="XX99")
    assert _subcode(client.td02(DR_MARTIN, ins(OPEN), assertion=bad_sector)) == "wsse:FailedAuthentication"


# ---------------------------------------------------------------------------------------------
# TD0.2 / TD0.3 and the patients


def test_td02_open_dmp_without_authorization_then_td03(client):
    before = status(client, OPEN)
    assert (before.exists, before.active, before.authorization) == (True, True, "ABSENTE")
    assert before.identity.birth_name == "D'ARTAGNAN DE L'HERAULT" and before.identity.birth_date == "20010617"
    reply = client.td03(DR_MARTIN, ins(OPEN))
    outcome, end = hl7v3.parse_td03_response(reply.body)
    assert outcome == "OK" and end is not None and end > dt.date.today() + dt.timedelta(days=175)
    after = status(client, OPEN)
    assert after.authorization == "VALIDE" and after.authorization_until == end
    assert status(client, OPEN, DR_BERNARD).authorization == "ABSENTE"  # per professional
    removed = hl7v3.parse_td03_response(client.td03(DR_MARTIN, ins(OPEN), "SUPPRESSION").body)
    assert removed == ("OK", None)
    assert status(client, OPEN).authorization == "ABSENTE"


def test_td02_expired_authorization(dmp_sandbox, client):
    yesterday = dmp_sandbox.server.service.today() - dt.timedelta(days=1)  # the sandbox's day (UTC), not the local one
    dmp_sandbox.store.set_authorization(ins(OPEN), DR_MARTIN.national_id, yesterday)
    assert status(client, OPEN).authorization == "EXPIREE"


def test_td02_closed_absent_blocked_and_divergent(client):
    closed = status(client, CLOSED)
    assert closed.exists and not closed.active
    assert closed.closed_on == dt.date(2025, 9, 15) and closed.closing_reason == "Fermeture à la demande du patient"
    absent = status(client, NO_DMP)
    assert not absent.exists and not absent.active
    assert status(client, BLOCKED_ALL).authorization == "INTERDITE"
    assert status(client, BLOCKED_BERNARD, DR_BERNARD).authorization == "INTERDITE"
    assert status(client, BLOCKED_BERNARD, DR_MARTIN).authorization == "ABSENTE"
    divergent = status(client, DIVERGENT)
    assert divergent.identity.given == "CAMILLA" and divergent.identity.birth_name == "MARTIN"
    unknown = status(client, UNKNOWN)
    assert unknown.exists and unknown.active and unknown.authorization == "ABSENTE"


def test_td02_medecin_traitant(client):
    assert status(client, "279035121518989", DR_MARTIN).medecin_traitant is True
    assert status(client, "279035121518989", DR_BERNARD).medecin_traitant is False


def test_td02_unknown_ins_oid_is_refused_the_nir_oid_of_insi_personas_accepted(client):
    unknown = ins(OPEN, "1.2.250.1.213.1.4.99")
    reply = client.td02(DR_MARTIN, unknown)
    with pytest.raises(Exception) as error:
        hl7v3.parse_td02_response(reply.body, unknown)
    assert getattr(error.value, "code", "") == "DMPPatientIdUnknown"
    # The INSi sandbox personas (seeded by the demo) carry the NIR OID: their DMP answers.
    nir = ins(OPEN, OID_INS_NIR)
    assert hl7v3.parse_td02_response(client.td02(DR_MARTIN, nir).body, nir).exists


@pytest.mark.parametrize(
    ("matricule", "pro", "expected"),
    [
        (CLOSED, DR_MARTIN, "DMP_FERME"),
        (NO_DMP, DR_MARTIN, "DMP_INEXISTANT"),
        (BLOCKED_BERNARD, DR_BERNARD, "INTERDITE"),
    ],
)
def test_td03_refused(client, matricule, pro, expected):
    assert hl7v3.parse_td03_response(client.td03(pro, ins(matricule)).body)[0] == expected
    assert status(client, matricule, pro).authorization != "VALIDE"


def test_set_patient_at_run_time(dmp_sandbox, client):
    dmp_sandbox.set_patient(UNKNOWN, closed_on="2026-01-02", closing_reason="Décès")
    closed = status(client, UNKNOWN)
    assert not closed.active and closed.closing_reason == "Décès"


# ---------------------------------------------------------------------------------------------
# Fault injection and misbehaving patients


def test_fail_next_http_503_then_recovers(dmp_sandbox, client):
    dmp_sandbox.fail_next(2, "http_503")
    assert client.td02(DR_MARTIN, ins(OPEN)).status == 503
    assert client.td02(DR_MARTIN, ins(OPEN)).status == 503
    assert client.td02(DR_MARTIN, ins(OPEN)).status == 200
    assert [r.outcome for r in dmp_sandbox.requests][:2] == ["injected:http_503"] * 2


def test_fail_next_receiver_fault_garbage_drop_and_slow(dmp_sandbox, client):
    dmp_sandbox.fail_next(1, "receiver_fault")
    reply = client.td02(DR_MARTIN, ins(OPEN))
    assert reply.status == 500 and reply.fault[0] == "soap:Receiver"
    dmp_sandbox.fail_next(1, "garbage")
    assert client.td02(DR_MARTIN, ins(OPEN)).root is None
    dmp_sandbox.fail_next(1, "drop_connection")
    with pytest.raises(requests.exceptions.ConnectionError):
        client.td02(DR_MARTIN, ins(OPEN))
    dmp_sandbox.fail_next(1, "slow", delay_seconds=5)
    with pytest.raises(requests.exceptions.Timeout):
        client.td02(DR_MARTIN, ins(OPEN), timeout=0.5)
    with pytest.raises(ValueError):
        dmp_sandbox.fail_next(1, "nonsense")


def test_misbehaving_patients(client):
    assert client.td02(DR_MARTIN, ins("115033306361142")).fault[0] == "soap:Receiver"  # FONTAINE JULES
    assert client.td02(DR_MARTIN, ins("115033306361241")).status == 503  # FONTAINE LOUIS
    with pytest.raises(requests.exceptions.Timeout):
        client.td02(DR_MARTIN, ins("284093306327451"), timeout=0.5)  # FONTAINE ISABELLE, slow
