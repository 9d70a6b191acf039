"""INSi messages: requests valid against the official XSDs, answers read right, hostile XML refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from lxml import etree

from caducee.core.oids import (
    INSI_ACTION_TRAITS,
    INSI_ACTION_VITALE,
    NS_CTXBAM,
    NS_CTXLPS,
    NS_INSI_RECSANS,
    NS_INSI_RECVIT,
    NS_SOAP12,
    NS_WSA,
    OID_INS_NIA,
    OID_INS_NIR,
)
from caducee.identity.insi.messages import (
    Fault,
    LpsContext,
    MalformedMessage,
    Resultat,
    build_traits_request,
    build_vitale_request,
    instance_id,
    parse_response,
)

REFERENCE = Path(settings.REFERENCE_DIR) / "ins"
XSD = REFERENCE / "insi-wsdl" / "xsd"
RESPONSES = REFERENCE / "insi-responses"
CONTEXT = LpsContext(
    idam="TESTSGIE0000",
    software_name="Caducee",
    software_version="0.1.0",
    instance="b3549edd-4ae9-472a-b26f-fd2fb4ef397f",
    emetteur="10B0152872",
)


def _schema(relative: str) -> etree.XMLSchema:
    path = XSD / relative
    assert path.is_file(), f"XSD officiel introuvable : {path} (CADUCEE_REFERENCE_DIR)"
    return etree.XMLSchema(etree.parse(str(path)))


@pytest.fixture(scope="module")
def schemas() -> dict[str, etree.XMLSchema]:
    return {
        "recsans": _schema("ServiceIdentiteCertifiee/INSi_RECSANS_INS.xsd"),
        "recvit": _schema("ServiceIdentiteCertifiee/INSi_RECVITALE_INS.xsd"),
        "resultat": _schema("ServiceIdentiteCertifiee/INSi_RESULTAT_INS.xsd"),
        "ctxlps": _schema("CTX/ROOT_ctxlps_CTXLPS_V01_00.xsd"),
        "ctxbam": _schema("CTX/ROOT_ctxbam_CTXBAM_V01_02.xsd"),
        "fault": _schema("schema_faultSOAP_V01_01.xsd"),
    }


def _assert_valid(schema: etree.XMLSchema, element: etree._Element) -> None:
    assert schema.validate(element), schema.error_log


def _headers_and_body(xml: bytes) -> tuple[list[etree._Element], etree._Element]:
    root = etree.fromstring(xml)
    assert root.tag == f"{{{NS_SOAP12}}}Envelope"
    header, body = list(root)
    assert header.tag == f"{{{NS_SOAP12}}}Header" and body.tag == f"{{{NS_SOAP12}}}Body"
    return list(header), body[0]


# ---------------------------------------------------------------------------------------------
# Requests


@pytest.mark.parametrize(
    ("given_names", "birthplace"),
    [(["DOMINIQUE"], "2A020"), (["PIERRE PAUL JACQUES"], None), (["PIERRE", "PAUL"], "63220")],
)
def test_traits_request_is_valid_against_the_official_xsds(schemas, given_names, birthplace):
    built = build_traits_request(
        birth_name="ADRTROIS",
        given_names=given_names,
        sex="F",
        birth_date="1997-02-26",
        birthplace_cog=birthplace,
        context=CONTEXT,
        now=datetime(2026, 3, 1, 8, 51, 16, 840000, tzinfo=UTC),
    )
    headers, body = _headers_and_body(built.xml)
    # Header order of the WSDL binding (Security omitted: mTLS mode).
    assert [h.tag for h in headers] == [
        f"{{{NS_CTXLPS}}}ContexteLPS",
        f"{{{NS_WSA}}}MessageID",
        f"{{{NS_CTXBAM}}}ContexteBAM",
        f"{{{NS_WSA}}}Action",
    ]
    lps, message_id, bam, action = headers
    _assert_valid(schemas["ctxlps"], lps)
    _assert_valid(schemas["ctxbam"], bam)
    _assert_valid(schemas["recsans"], body)
    assert body.tag == f"{{{NS_INSI_RECSANS}}}RECSANSVITALE"
    assert action.text == INSI_ACTION_TRAITS == built.action
    assert message_id.text == built.message_id and built.message_id.startswith("uuid:")
    uuid.UUID(built.message_id[5:])
    assert lps.get("Nature") == "CTXLPS" and lps.get("Version") == "01_00"
    assert bam.get("Version") == "01_02"
    ns = {"l": NS_CTXLPS, "b": NS_CTXBAM, "r": NS_INSI_RECSANS}
    assert lps.findtext("l:Temps", namespaces=ns) == "2026-03-01T08:51:16.840Z"
    idam = lps.find("l:LPS/l:IDAM", ns)
    assert idam is not None and idam.text == "TESTSGIE0000" and idam.get("R") == "4"
    assert lps.findtext("l:LPS/l:Instance", namespaces=ns) == CONTEXT.instance
    assert lps.findtext("l:LPS/l:Nom", namespaces=ns) == "urn:lps:Caducee:0.1.0"
    assert lps.findtext("l:Emetteur", namespaces=ns) == "10B0152872"
    couverture = bam.find("b:COUVERTURE", ns)
    assert couverture is not None and len(couverture) == 0
    assert [p.text for p in body.findall("r:Prenom", ns)] == given_names
    assert body.findtext("r:LieuNaissance", namespaces=ns) == birthplace


def test_vitale_request_is_valid_against_the_official_xsds(schemas):
    built = build_vitale_request(
        nir_individu="115033306361242",
        nir_od="284093306327451",
        birth_name="FONTAINE",
        birth_date="2015-03-11",
        rang="1",
        context=CONTEXT,
    )
    headers, body = _headers_and_body(built.xml)
    _assert_valid(schemas["ctxlps"], headers[0])
    _assert_valid(schemas["ctxbam"], headers[2])
    _assert_valid(schemas["recvit"], body)
    assert headers[3].text == INSI_ACTION_VITALE == built.action
    ns = {"v": NS_INSI_RECVIT}
    assert body.findtext("v:MatriculeOD/v:NumIdentifiant", namespaces=ns) == "2840933063274"
    assert body.findtext("v:MatriculeOD/v:Cle", namespaces=ns) == "51"
    assert body.findtext("v:MatriculeIndividu/v:Cle", namespaces=ns) == "42"
    assert [etree.QName(c).localname for c in body] == [
        "MatriculeIndividu",
        "MatriculeOD",
        "NomNaissance",
        "DateNaissance",
        "RangNaissance",
    ]


def test_request_without_emetteur_and_with_empty_idam_stays_schema_valid(schemas):
    context = LpsContext(idam="", software_name="Caducee", software_version="0.1.0", instance="x")
    built = build_traits_request(
        birth_name="A",
        given_names=["B"],
        sex="M",
        birth_date="2000-01-01",
        birthplace_cog=None,
        context=context,
    )
    headers, _ = _headers_and_body(built.xml)
    _assert_valid(schemas["ctxlps"], headers[0])
    _assert_valid(schemas["ctxbam"], headers[2])
    assert headers[0].find(f"{{{NS_CTXLPS}}}Emetteur") is None


def test_instance_id_is_created_once_per_installation(tmp_path):
    first = instance_id(tmp_path)
    assert instance_id(tmp_path) == first
    assert (tmp_path / "instance_id").read_text().strip() == first
    uuid.UUID(first)


# ---------------------------------------------------------------------------------------------
# Recorded CNDA answers


def _recorded(name: str) -> bytes:
    path = RESPONSES / name
    assert path.is_file(), f"Réponse enregistrée introuvable : {path}"
    return path.read_bytes()


def test_recorded_cr01_is_not_found():
    result = parse_response(_recorded("REP_CR01.xml"))
    assert result == Resultat(code="01", label="Aucune identite trouvee")


def test_recorded_test_2_04_gives_ins_and_two_history_entries():
    result = parse_response(_recorded("TEST_2.04_cas2.xml"))
    assert isinstance(result, Resultat)
    assert (result.code, result.label) == ("00", "OK")
    assert result.active is not None
    assert (result.active.matricule, result.active.key, result.active.oid) == (
        "1090763220834",
        "89",
        OID_INS_NIR,
    )
    assert [(h.matricule, h.key, h.start, h.end) for h in result.history] == [
        ("2090763220834", "39", "2019-03-01", "2019-02-28"),
        ("2090663220123", "55", None, None),
    ]
    assert result.traits is not None
    assert result.traits.given_names == "PIERRE-ALAIN MURIEL FLORIANT"
    assert result.traits.given_name == ""
    assert (result.traits.sex, result.traits.birth_date, result.traits.birthplace) == (
        "M",
        "2009-07-14",
        "63220",
    )


def test_recorded_test_2_04_breaks_the_official_sequence_and_is_still_read(schemas):
    # The real service puts DateDeb/DateFin before IdIndividu: the XSD says no, we tolerate it.
    root = etree.fromstring(_recorded("TEST_2.04_cas2.xml"))
    resultat = root[0][0]
    assert not schemas["resultat"].validate(resultat)
    assert isinstance(parse_response(_recorded("TEST_2.04_cas2.xml")), Resultat)


def test_recorded_test_2_05_is_a_nia():
    result = parse_response(_recorded("TEST_2.05.xml"))
    assert isinstance(result, Resultat) and result.active is not None and result.traits is not None
    assert (result.active.matricule, result.active.key, result.active.oid) == (
        "1090763220888",
        "35",
        OID_INS_NIA,
    )
    assert result.traits.given_name == "MATRICULE"
    assert result.history == []


# ---------------------------------------------------------------------------------------------
# Faults (texts and codes of the real service, notes §3.2)

SIRAM_40 = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
    '<env:Body xmlns:S="http://www.w3.org/2003/05/soap-envelope" xmlns:env="http://www.w3.org/2003/05/soap-envelope">'
    '<S:Fault xmlns:ns4="http://schemas.xmlsoap.org/soap/envelope/"><S:Code><S:Value>S:Receiver</S:Value>'
    "<S:Subcode><S:Value>S:siram_40</S:Value></S:Subcode></S:Code><S:Reason>"
    '<S:Text xml:lang="en">Le service est temporairement inaccessible.\nVeuillez renouveler votre demande '
    "ultérieurement.</S:Text></S:Reason><S:Detail>"
    '<siram:Erreur severite="fatal" code="insi_102" xmlns:siram="urn:siram">L appel au service de recherche '
    "renvoie une erreur technique.</siram:Erreur></S:Detail></S:Fault></env:Body></soap:Envelope>"
).encode()

SIRAM_100 = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
    '<env:Body xmlns:env="http://www.w3.org/2003/05/soap-envelope"><soap:Fault><soap:Code>'
    "<soap:Value>soap:Sender</soap:Value><soap:Subcode><soap:Value>soap:siram_100</soap:Value></soap:Subcode>"
    "</soap:Code><soap:Reason><soap:Text xml:lang=\"fr\">L'accès par ce progiciel au service n'est pas "
    "autorisé.</soap:Text></soap:Reason><soap:Detail>"
    '<siram:Erreur code="desir_550" messageID="uuid:b3549edd-4ae9-472a-b26f-fd2fb4ef397f" severite="erreur" '
    'xmlns:siram="urn:siram">Numéro d\'autorisation du logiciel inconnu.</siram:Erreur></soap:Detail>'
    "</soap:Fault></env:Body></soap:Envelope>"
).encode()


def test_fault_siram_40_is_read_with_its_codes():
    fault = parse_response(SIRAM_40)
    assert isinstance(fault, Fault)
    assert (fault.code, fault.subcode, fault.detail_code, fault.severity) == (
        "Receiver",
        "siram_40",
        "insi_102",
        "fatal",
    )
    assert fault.reason.startswith("Le service est temporairement inaccessible. Veuillez")


def test_fault_siram_100_bad_idam_is_read_with_its_codes(schemas):
    fault = parse_response(SIRAM_100)
    assert isinstance(fault, Fault)
    assert (fault.code, fault.subcode, fault.detail_code) == ("Sender", "siram_100", "desir_550")
    assert fault.detail == "Numéro d'autorisation du logiciel inconnu."
    erreur = etree.fromstring(SIRAM_100).find(".//{urn:siram}Erreur")
    _assert_valid(schemas["fault"], erreur)


# ---------------------------------------------------------------------------------------------
# Hostile or broken answers

RESULTAT_NS = "http://www.cnamts.fr/INSiResultat"


def _envelope(inner: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="{NS_SOAP12}"><soap:Body>{inner}</soap:Body></soap:Envelope>').encode()


def _resultat(inner: str) -> bytes:
    return _envelope(f'<RESULTAT xmlns="{RESULTAT_NS}">{inner}</RESULTAT>')


CR00 = "<CR><CodeCR>00</CodeCR><LibelleCR>OK</LibelleCR></CR>"
ACTIF = "<INSACTIF><IdIndividu><NumIdentifiant>297022A020778</NumIdentifiant><Cle>78</Cle></IdIndividu>"
ACTIF += "<OID>1.2.250.1.213.1.4.8</OID></INSACTIF>"
TIQ = "<TIQ><NomNaissance>ADRTROIS</NomNaissance><ListePrenom>DOMINIQUE</ListePrenom><Sexe>F</Sexe>"
TIQ += "<DateNaissance>1997-02-26</DateNaissance></TIQ>"


def test_a_well_formed_minimal_answer_is_read(schemas):
    data = _resultat(CR00 + f"<INDIVIDU>{ACTIF}{TIQ}</INDIVIDU>")
    _assert_valid(schemas["resultat"], etree.fromstring(data)[0][0])
    result = parse_response(data)
    assert isinstance(result, Resultat) and result.active is not None
    assert result.active.matricule == "297022A020778"


XXE = b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n' + _resultat(
    "<CR><CodeCR>01</CodeCR><LibelleCR>&x;</LibelleCR></CR>"
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    + _resultat("<CR><CodeCR>01</CodeCR><LibelleCR>&c;</LibelleCR></CR>")
)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "Message vide"),
        (b"\x00\x01 ceci n'est pas du XML", "XML illisible"),
        (b"<html><body>502 Bad Gateway</body></html>", "Enveloppe SOAP 1.2 attendue"),
        (XXE, "DTD"),
        (LAUGHS, "DTD"),
        (
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>',
            "Enveloppe SOAP 1.2",
        ),
        (_envelope('<RESULTAT xmlns="http://example.org/INSiResultat"><CR/></RESULTAT>'), "espace de noms"),
        (_envelope("<RESULTAT><CR/></RESULTAT>"), "espace de noms aucun"),
        (_resultat("<CR><CodeCR>07</CodeCR><LibelleCR>?</LibelleCR></CR>"), "Code retour INSi inconnu"),
        (_resultat(CR00), "00 sans identité"),
        (
            _resultat("<CR><CodeCR>01</CodeCR><LibelleCR>x</LibelleCR></CR>" + f"<INDIVIDU>{ACTIF}{TIQ}</INDIVIDU>"),
            "01",
        ),
        (_resultat(CR00 + CR00), "unique CR"),
        (_resultat("<CR><LibelleCR>OK</LibelleCR><CodeCR>00</CodeCR></CR>"), "CodeCR puis LibelleCR"),
        (_resultat(CR00 + f"<INDIVIDU>{TIQ}</INDIVIDU>"), "INSACTIF"),
        (_resultat(CR00 + f"<INDIVIDU>{ACTIF}{TIQ}<Extra/></INDIVIDU>"), "inattendu Extra"),
        (
            _resultat(CR00 + f"<INDIVIDU>{ACTIF.replace('<Cle>78</Cle>', '<Cle>8</Cle>')}{TIQ}</INDIVIDU>"),
            "Clé invalide",
        ),
        (
            _resultat(CR00 + f"<INDIVIDU>{ACTIF.replace('297022A020778', '29702')}{TIQ}</INDIVIDU>"),
            "NumIdentifiant",
        ),
        (
            _resultat(CR00 + f"<INDIVIDU>{ACTIF.replace('<OID>1.2.250.1.213.1.4.8</OID>', '')}{TIQ}</INDIVIDU>"),
            "OID",
        ),
        (_resultat(CR00 + f"<INDIVIDU>{ACTIF}{TIQ.replace('>F<', '>f<')}</INDIVIDU>"), "Sexe invalide"),
        (
            _resultat(CR00 + f"<INDIVIDU>{ACTIF}{TIQ.replace('1997-02-26', '26/02/1997')}</INDIVIDU>"),
            "DateNaissance",
        ),
        (_envelope(""), "un seul élément"),
        (b" " * 1_000_001, "trop volumineux"),
    ],
)
def test_hostile_or_broken_answers_are_refused(data, why):
    with pytest.raises(MalformedMessage, match=why):
        parse_response(data)


def test_xxe_never_reads_the_local_file():
    with pytest.raises(MalformedMessage) as excinfo:
        parse_response(XXE)
    assert "root:" not in str(excinfo.value)
