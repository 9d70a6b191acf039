"""VIHF: the SAML 2.0 assertion carried in `wsse:Security` of every DMP call, signed by the structure.

Sources (all under ../shared/reference/dmp_mss/ unless told):
- [MAP] `ig_hl7v2_transmission_cda/mapping.md` §"Mapping VIHF pour le DMP" (ANS IG): names of the attributes,
  constants (VIHF_Version 4.0, Ressource_URN urn:dmp, purposeofuse code normal), Issuer = DN of the signature
  certificate with format X509SubjectName, optional Conditions, no AudienceRestriction.
- [EX] `examples/dmp_ProvideAndRegister_trimmed_from_DRIM-M_DATA.xml` (real dev9 ITI-41 of ansforge/DRIM-M_DATA):
  `saml2` prefix, attribute order, HL7 v3 `Role`/`PurposeOfUse` CE values, `SAxx^1.2.250.1.71.4.2.4` sector form,
  `TLSClient` AuthnContextClassRef, INS in CX form.
- [NOTES] `../shared/reference/notes/dmp-mssante-annuaire.md` §1.6: INDIRECTE_RENFORCEE for the AIR/Pro Santé Connect
  mode (DRIMbox), DIRECTE with a CPS card (public C# client).

The public material is silent on: the value format of the secret-connection attribute (we send an HL7 v3 CE like the
other coded attributes, code R of HL7 Confidentiality, an inference to confirm with the CNDA kit), the maximum
lifetime of the assertion, and the exact DMP checks on `Conditions` (optional per [MAP]).
"""

from __future__ import annotations

import datetime as dt
import uuid

from cryptography import x509
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
)

from caducee.dmp.keys import rsa_signing_key

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_HL7 = "urn:hl7-org:v3"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
_S = f"{{{NS_SAML}}}"

AUTH_MODES = ("INDIRECTE", "INDIRECTE_RENFORCEE", "DIRECTE")  # [MAP] INDIRECTE; [NOTES] the two others
VIHF_VERSION = "4.0"  # [MAP] "Constante : 4.0" ([EX] DRIMbox still sends 3.0)
ISSUER_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"  # [MAP] (typo "nameidformat" there), [EX]
AC_TLS_CLIENT = "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"  # [EX]; [MAP]: consistent with the local login
OID_SECTOR = "1.2.250.1.71.4.2.4"  # [EX] Secteur_Activite SAxx^OID (JDV_J61 per [MAP])
OID_PROFESSION = "1.2.250.1.71.1.2.7"  # [EX] 1st role, TRE_G15 ProfessionSante
OID_SAVOIR_FAIRE = "1.2.250.1.71.4.2.5"  # [EX] 2nd role for médecins, TRE_R01 EnsembleSavoirFaire
OID_PURPOSE = "1.2.250.1.213.1.1.4.248"  # [EX] PurposeOfUse codeSystem
OID_CONFIDENTIALITY = "2.16.840.1.113883.5.25"  # HL7 Confidentiality; inference, public DMP material silent

# Attribute names, each as written in [MAP] (and sent in [EX] unless told).
A_VERSION = "VIHF_Version"
A_SECTOR = "Secteur_Activite"
A_RESOURCE_URN = "Ressource_URN"
A_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
A_STRUCTURE = "Identifiant_Structure"
A_LPS_ID = "LPS_ID"
A_LPS_NAME = "LPS_Nom"
A_LPS_HOMOLOGATION = "LPS_ID_HOMOLOGATION_DMP"
A_LPS_VERSION = "LPS_Version"
A_RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
A_AUTH_MODE = "Authentification_Mode"
A_PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
A_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
A_CONFIDENTIALITY = "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code"  # [MAP] only, not in [EX]


class VihfError(ValueError):
    """The VIHF cannot be built from these parameters."""


def saml_time(moment: dt.datetime) -> str:
    """xs:dateTime in UTC with a 'Z' (SAML core §1.3.3); a naive datetime is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise VihfError("datetime sans fuseau horaire")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issuer_from_cert(cert_pem: bytes | str) -> str:
    """DN of the signature certificate, the Issuer per [MAP] (RFC 4514, CN first as in [EX])."""
    data = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    return x509.load_pem_x509_certificate(data).subject.rfc4514_string()


def _attribute(statement: etree._Element, name: str, *values: str | etree._Element) -> None:
    attribute = etree.SubElement(statement, _S + "Attribute", Name=name)
    for value in values:
        node = etree.SubElement(attribute, _S + "AttributeValue")
        if isinstance(value, str):
            node.text = value
        else:
            node.append(value)


def _ce(
    tag: str, code: str, code_system: str, display: str | None = None, system_name: str | None = None
) -> etree._Element:
    node = etree.Element(f"{{{NS_HL7}}}{tag}", nsmap={None: NS_HL7, "xsi": NS_XSI})  # type: ignore[dict-item]
    node.set("code", code)
    node.set("codeSystem", code_system)
    if system_name:
        node.set("codeSystemName", system_name)
    if display:
        node.set("displayName", display)
    node.set(f"{{{NS_XSI}}}type", "CE")
    return node


def build_vihf(
    *,
    issuer: str,
    subject_national_id: str,
    subject_name: str,
    auth_mode: str,
    structure_id: str,
    sector: str,
    role: str,
    specialty: str | None,
    patient_ins: str | None,
    software_name: str,
    software_version: str,
    now: dt.datetime,
    validity_seconds: int = 300,
    secret_connection: bool = False,
    role_display: str | None = None,
    specialty_display: str | None = None,
    software_id: str | None = None,
    homologation_id: str | None = None,
    authn_instant: dt.datetime | None = None,
    authn_context: str = AC_TLS_CLIENT,
    assertion_id: str | None = None,
) -> etree._Element:
    """Unsigned `saml2:Assertion`; `sign_vihf` places the signature after the Issuer (SAML core schema order).

    `role` is the TRE_G15 profession code (1st role), `specialty` the TRE_R01 savoir-faire (2nd role, médecins) or
    None; `sector` the JDV_J61 code (`SA25`); `patient_ins` the CX `matricule^^^&OID&ISO^NH` or None (calls not
    about a patient). `secret_connection` adds the confidentiality-code attribute ([MAP]: only when asked).
    """
    if auth_mode not in AUTH_MODES:
        raise VihfError(f"mode d'authentification inconnu : {auth_mode}")
    if validity_seconds <= 0:
        raise VihfError("durée de validité invalide")
    for label, value in (
        ("émetteur", issuer),
        ("identifiant du professionnel", subject_national_id),
        ("nom du professionnel", subject_name),
        ("identifiant de structure", structure_id),
        ("secteur d'activité", sector),
        ("profession", role),
        ("nom du logiciel", software_name),
        ("version du logiciel", software_version),
    ):
        if not value or not value.strip():
            raise VihfError(f"{label} manquant")
    if patient_ins is not None and (not patient_ins.endswith("&ISO^NH") or "^^^&" not in patient_ins):
        raise VihfError("INS attendu sous la forme matricule^^^&OID&ISO^NH")

    issued = saml_time(now)
    assertion = etree.Element(
        _S + "Assertion",
        nsmap={"saml2": NS_SAML},
        ID=assertion_id or f"_{uuid.uuid4().hex}",  # xs:ID must be an NCName: no leading digit
        IssueInstant=issued,
        Version="2.0",
    )
    issuer_node = etree.SubElement(assertion, _S + "Issuer", Format=ISSUER_FORMAT)
    issuer_node.text = issuer
    subject = etree.SubElement(assertion, _S + "Subject")
    etree.SubElement(subject, _S + "NameID").text = subject_national_id  # [MAP] PS IdNat (PRT-5.1)
    etree.SubElement(
        assertion,
        _S + "Conditions",
        NotBefore=issued,
        NotOnOrAfter=saml_time(now + dt.timedelta(seconds=validity_seconds)),
    )  # [MAP] optional; no AudienceRestriction ("Ne pas renseigner")
    authn = etree.SubElement(assertion, _S + "AuthnStatement", AuthnInstant=saml_time(authn_instant or now))
    context = etree.SubElement(authn, _S + "AuthnContext")
    etree.SubElement(context, _S + "AuthnContextClassRef").text = authn_context

    statement = etree.SubElement(assertion, _S + "AttributeStatement")
    _attribute(statement, A_VERSION, VIHF_VERSION)
    _attribute(statement, A_SECTOR, f"{sector}^{OID_SECTOR}" if "^" not in sector else sector)
    _attribute(statement, A_RESOURCE_URN, "urn:dmp")
    _attribute(statement, A_SUBJECT_ID, subject_name)
    _attribute(statement, A_STRUCTURE, structure_id)
    if software_id:
        _attribute(statement, A_LPS_ID, software_id)  # [MAP] "Facultatif"
    _attribute(statement, A_LPS_NAME, software_name)
    if homologation_id:
        _attribute(statement, A_LPS_HOMOLOGATION, homologation_id)  # [MAP]; empty in [EX], known after CNDA
    _attribute(statement, A_LPS_VERSION, software_version)
    if patient_ins is not None:
        _attribute(statement, A_RESOURCE_ID, patient_ins)
    _attribute(statement, A_AUTH_MODE, auth_mode)
    _attribute(
        statement,
        A_PURPOSE,
        _ce("PurposeOfUse", "normal", OID_PURPOSE, "Acces normal", "mode acces VIHF 1.0"),  # [EX]
    )
    roles = [_ce("Role", role, OID_PROFESSION, role_display)]
    if specialty:
        roles.append(_ce("Role", specialty, OID_SAVOIR_FAIRE, specialty_display))
    _attribute(statement, A_ROLE, *roles)
    if secret_connection:
        _attribute(statement, A_CONFIDENTIALITY, _ce("ConfidentialityCode", "R", OID_CONFIDENTIALITY, "restricted"))
    return assertion


def sign_vihf(assertion: etree._Element, key_pem: bytes | str, cert_pem: bytes | str) -> etree._Element:
    """Enveloped XML-DSig over the assertion ID: RSA-SHA256, SHA-256, exclusive c14n, KeyInfo/X509Data ([MAP], [EX]).

    Returns a new element; the input is left unchanged.
    """
    assertion_id = assertion.get("ID")
    if not assertion_id:
        raise VihfError("assertion sans ID")
    work = etree.fromstring(etree.tostring(assertion))
    issuer = work.find(_S + "Issuer")
    if issuer is None:
        raise VihfError("assertion sans Issuer")
    placeholder = etree.Element(f"{{{NS_DS}}}Signature", nsmap={"ds": NS_DS}, Id="placeholder")
    issuer.addnext(placeholder)  # schema order: Issuer, Signature, Subject, ...
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    key = rsa_signing_key(key_pem.encode() if isinstance(key_pem, str) else key_pem)
    cert = cert_pem.decode() if isinstance(cert_pem, bytes) else cert_pem
    return signer.sign(work, key=key, cert=cert, reference_uri=f"#{assertion_id}")
