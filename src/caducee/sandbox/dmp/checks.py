"""VIHF verification, as the DMP does it on every call (wsse:Security / saml2:Assertion).

Sources: dmp_mss/ig_hl7v2_transmission_cda/mapping.md §"Mapping VIHF pour le DMP" (attributes, VIHF_Version 4.0,
signature by the structure's certificate), notes §1.6 (authentication modes), SAML core §2.5 (Conditions).
The signature is checked with signxml against the sandbox CA (the real DMP trusts the IGC-Santé CAs).

A missing/unsigned/badly signed assertion is `wsse:InvalidSecurityToken`; a well-signed assertion whose content is
refused (expired, wrong attribute, wrong patient) is `wsse:FailedAuthentication` (WS-Security 1.0 §12 fault codes).
Which of them the real DMP uses for each case is not public: that split is the sandbox's choice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass, field

from cryptography import x509
from lxml import etree
from signxml import XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"  # WSS 1.0
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"  # SAML core §2
NS_DS = "http://www.w3.org/2000/09/xmldsig#"  # XML-DSig
_S = f"{{{NS_SAML}}}"

# The sandbox's own reading of [MAP] (mapping.md §"Mapping VIHF pour le DMP") and of the real DMP request
# (examples/dmp_ProvideAndRegister_trimmed_from_DRIM-M_DATA.xml): attribute names, as the DMP expects them.
A_VERSION = "VIHF_Version"
A_SECTOR = "Secteur_Activite"
A_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
A_STRUCTURE = "Identifiant_Structure"
A_RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
A_AUTH_MODE = "Authentification_Mode"
A_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
A_CONFIDENTIALITY = "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code"  # [MAP] only
AUTH_MODES = ("INDIRECTE", "INDIRECTE_RENFORCEE", "DIRECTE")  # [MAP] INDIRECTE; notes §1.6 the two others
OID_SECTOR = "1.2.250.1.71.4.2.4"  # JDV_J61 secteur d'activité, `SAxx^OID` in the example request
OID_PROFESSION = "1.2.250.1.71.1.2.7"  # TRE_G15 profession: the first Role of the example request
ACCEPTED_VERSIONS = ("4.0", "3.0")  # [MAP] 4.0; DRIMbox (notes §1.6) still sends 3.0
CLOCK_SKEW = dt.timedelta(seconds=60)
REQUIRED = (A_VERSION, A_AUTH_MODE, A_STRUCTURE, A_SECTOR, A_ROLE, A_SUBJECT_ID)


class VihfRejected(Exception):
    """The VIHF is refused; `subcode` is wsse:InvalidSecurityToken or wsse:FailedAuthentication."""

    def __init__(self, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason


def _invalid(reason: str) -> VihfRejected:
    return VihfRejected("wsse:InvalidSecurityToken", reason)


def _failed(reason: str) -> VihfRejected:
    return VihfRejected("wsse:FailedAuthentication", reason)


@dataclass(frozen=True)
class VihfClaims:
    national_id: str
    name: str
    auth_mode: str
    structure_id: str
    sector: str
    roles: tuple[str, ...]
    resource_id: str | None
    secret_connection: bool
    attributes: dict[str, list[str]] = field(default_factory=dict, compare=False)


def _parse_time(value: str | None, what: str) -> dt.datetime:
    if not value:
        raise _failed(f"VIHF : {what} absent.")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _failed(f"VIHF : {what} illisible.") from exc
    if moment.tzinfo is None:
        raise _failed(f"VIHF : {what} sans fuseau horaire.")
    return moment


# A client reuses its signed VIHF for a few calls (same professional, same patient): the signature of the exact same
# bytes is verified once. The time conditions and attributes are checked on every call.
_VERIFIED_MAX = 1024
_verified: dict[tuple[bytes, str], etree._Element] = {}
_verified_lock = threading.Lock()


def _verified_assertion(assertion: etree._Element, ca_file: str) -> etree._Element:
    """The assertion as covered by its signature (XML-DSig checked, certificate chained to the sandbox CA)."""
    raw = etree.tostring(assertion)  # the assertion on its own: exclusive c14n makes it envelope-independent
    key = (hashlib.sha256(raw).digest(), ca_file)
    with _verified_lock:
        known = _verified.get(key)
    if known is not None:
        return known
    try:
        result = XMLVerifier().verify(
            etree.fromstring(raw),
            ca_pem_file=ca_file,
            id_attribute="ID",
            ee_policy=x509.verification.ExtensionPolicy.permit_all(),
            ca_policy=x509.verification.ExtensionPolicy.webpki_defaults_ca(),
        )
    except (InvalidSignature, InvalidInput, ValueError) as exc:
        raise _invalid(f"Signature du jeton VIHF invalide ou certificat non reconnu : {exc}") from exc
    signed = result.signed_xml if not isinstance(result, list) else None
    if signed is None or signed.get("ID") != assertion.get("ID"):
        raise _invalid("La signature du jeton VIHF ne porte pas sur l'assertion.")
    with _verified_lock:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[key] = signed
    return signed


def verify_vihf(header: etree._Element, *, ca_file: str, now: dt.datetime | None = None) -> VihfClaims:
    """Check the VIHF in the SOAP header and return who calls; raise VihfRejected otherwise."""
    now = now or dt.datetime.now(dt.UTC)
    securities = header.findall(f"{{{NS_WSSE}}}Security")
    if len(securities) != 1:
        raise _invalid("En-tête wsse:Security absent ou répété : jeton VIHF obligatoire.")
    assertions = securities[0].findall(f"{_S}Assertion")
    if len(assertions) != 1:
        raise _invalid("Jeton VIHF (saml2:Assertion) absent de wsse:Security.")
    assertion = assertions[0]
    if assertion.find(f"{{{NS_DS}}}Signature") is None:
        raise _invalid("Jeton VIHF non signé.")
    signed = _verified_assertion(assertion, ca_file)

    issuer = (signed.findtext(f"{_S}Issuer") or "").strip()
    if not issuer:
        raise _failed("VIHF : Issuer absent.")
    conditions = signed.find(f"{_S}Conditions")
    if conditions is not None:
        not_before = _parse_time(conditions.get("NotBefore"), "Conditions/NotBefore")
        not_after = _parse_time(conditions.get("NotOnOrAfter"), "Conditions/NotOnOrAfter")
        if now + CLOCK_SKEW < not_before:
            raise _failed("VIHF pas encore valide (Conditions/NotBefore dans le futur).")
        if now - CLOCK_SKEW >= not_after:
            raise _failed("VIHF expiré (Conditions/NotOnOrAfter dépassé).")
    issued = _parse_time(signed.get("IssueInstant"), "IssueInstant")
    if issued - CLOCK_SKEW > now:
        raise _failed("VIHF émis dans le futur (IssueInstant).")

    name_id = (signed.findtext(f"{_S}Subject/{_S}NameID") or "").strip()
    if not name_id:
        raise _failed("VIHF : identifiant national du professionnel (NameID) absent.")

    attributes: dict[str, list[str]] = {}
    roles: list[str] = []
    secret = False
    for attribute in signed.iter(f"{_S}Attribute"):
        name = attribute.get("Name", "")
        values = attribute.findall(f"{_S}AttributeValue")
        texts = [(value.text or "").strip() for value in values if len(value) == 0]
        attributes.setdefault(name, []).extend(t for t in texts if t)
        for value in values:
            for coded in value:
                if not isinstance(coded.tag, str):
                    continue
                if name == A_ROLE:
                    roles.append(f"{coded.get('code', '')}^{coded.get('codeSystem', '')}")
                    attributes.setdefault(name, []).append(coded.get("code", ""))
                elif name == A_CONFIDENTIALITY:
                    secret = coded.get("code") in ("R", "V")
                else:
                    attributes.setdefault(name, []).append(coded.get("code", ""))
    for required in REQUIRED:
        if not attributes.get(required):
            raise _failed(f"VIHF : attribut {required} absent ou vide.")
    version = attributes[A_VERSION][0]
    if version not in ACCEPTED_VERSIONS:
        raise _failed(f"VIHF : VIHF_Version {version} non prise en charge (4.0 attendue).")
    auth_mode = attributes[A_AUTH_MODE][0]
    if auth_mode not in AUTH_MODES:
        raise _failed(f"VIHF : mode d'authentification {auth_mode} inconnu.")
    sector = attributes[A_SECTOR][0]
    if not sector.startswith("SA") or (("^" in sector) and not sector.endswith(f"^{OID_SECTOR}")):
        raise _failed(f"VIHF : secteur d'activité {sector} hors JDV_J61.")
    if not roles or not roles[0].endswith(f"^{OID_PROFESSION}"):
        raise _failed("VIHF : le premier rôle doit être la profession (TRE_G15).")
    if not (name_id[0] in "0123456789" and len(name_id) >= 9):
        raise _failed(f"VIHF : identifiant national du professionnel {name_id} invalide.")
    resource = attributes.get(A_RESOURCE_ID) or []
    return VihfClaims(
        national_id=name_id,
        name=attributes[A_SUBJECT_ID][0],
        auth_mode=auth_mode,
        structure_id=attributes[A_STRUCTURE][0],
        sector=sector.split("^")[0],
        roles=tuple(roles),
        resource_id=resource[0] if resource else None,
        secret_connection=secret,
        attributes=attributes,
    )
