"""XDS.b / DMP codes and identifiers, with their sources.

* [ITI] IHE ITI TF-3 §4.2.5 (ebRIM classification schemes, identification schemes, object types); the same UUIDs are in
  DRIMbox dmp/utils/XDSUUID.java and the real DMP request examples/dmp_ProvideAndRegister_trimmed_from_DRIM-M_DATA.xml.
* [J57] valuesets/JDV_J57_ClassCode_DMP.json (TRE_A03, 1.2.250.1.213.1.1.4.1).
* [J58] valuesets/JDV_J58_ConfidentialityCode_DMP.json (TRE_A08 in XDS = 2.16.840.1.113883.5.25, TRE_A07 visibility).
* [J60] valuesets/JDV_J60_FormatCode_DMP.json (TRE_A11 1.3.6.1.4.1.19376.1.2.3, TRE_A06 1.2.250.1.213.1.1.4.2.282).
* [MAP] ig_hl7v2_transmission_cda/mapping.md §"Mapping XDS".
"""

from __future__ import annotations

from typing import NamedTuple


class XdsCode(NamedTuple):
    code: str
    scheme: str
    display: str


# --- [ITI] ebRIM UUIDs ---------------------------------------------------------------------------------------
DOCUMENT_ENTRY_STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY_TYPE_CODE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE_SETTING_CODE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE_CODE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"

# --- [J57] classCode (TRE_A03) -------------------------------------------------------------------------------
CLASS_SYSTEM = "1.2.250.1.213.1.1.4.1"
CLASS_REPORT = XdsCode("10", CLASS_SYSTEM, "Compte rendu")
CLASS_SUMMARY = XdsCode("11", CLASS_SYSTEM, "Synthèse")
CLASS_PRESCRIPTION = XdsCode("42", CLASS_SYSTEM, "Prescription")
CLASS_CERTIFICATE = XdsCode("52", CLASS_SYSTEM, "Certificat, déclaration")
# typeCode (system, code) -> classCode, the rows of ASS_X04-CorrespondanceType-Classe for the documents Caducée
# produces (ConceptMap not in the stored reference: rows transcribed from the NOS, to re-check at CNDA time).
CLASS_OF_TYPE: dict[tuple[str, str], XdsCode] = {
    ("2.16.840.1.113883.6.1", "11488-4"): CLASS_REPORT,  # CR ou fiche de consultation ou de visite
    ("2.16.840.1.113883.6.1", "96349-6"): CLASS_REPORT,  # Lettre d'adressage
    ("2.16.840.1.113883.6.1", "89601-9"): CLASS_CERTIFICATE,  # Certificat médical
    ("2.16.840.1.113883.6.1", "57833-6"): CLASS_PRESCRIPTION,  # Prescription de produits de santé
    ("2.16.840.1.113883.6.1", "60591-5"): CLASS_SUMMARY,  # Synthèse médicale (IPS-FR)
    ("1.2.250.1.213.1.1.4.12", "SYNTH"): CLASS_SUMMARY,  # Synthèse (VSM)
}

# --- [J58] confidentialityCode -------------------------------------------------------------------------------
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
VISIBILITY_SYSTEM = "1.2.250.1.213.1.1.4.13"
CONFIDENTIALITY = {"N": "Normal", "R": "Restreint", "V": "Très restreint"}
VISIBILITY = {
    "MASQUE_PS": "Masqué aux professionnels de santé",
    "INVISIBLE_PATIENT": "Non visible par le patient",
    "INVISIBLE_REPRESENTANTS_LEGAUX": "Non visible par les représentants légaux du patient",
}

# --- [J60] formatCode per document model (CDA templateId) -----------------------------------------------------
IHE_FORMAT_SYSTEM = "1.3.6.1.4.1.19376.1.2.3"
CISIS_FORMAT_SYSTEM = "1.2.250.1.213.1.1.4.2.282"
FORMAT_N1_PDF = XdsCode("urn:ihe:iti:xds-sd:pdf:2008", IHE_FORMAT_SYSTEM, "Document à corps non structuré en Pdf/A-1")
FORMAT_VSM = XdsCode("urn:asip:ci-sis:vsm:2012", CISIS_FORMAT_SYSTEM, "Synthèse médicale")
FORMAT_IPS = XdsCode("urn:ihe:pcc:ips:2020", IHE_FORMAT_SYSTEM, "Synthèse médicale (IPS)")
# Checked in this order: an IPS-FR or VSM document also carries the generic CI-SIS templateIds.
FORMAT_OF_TEMPLATE: tuple[tuple[str, XdsCode], ...] = (
    ("1.2.250.1.213.1.1.1.51", FORMAT_IPS),  # IPS-FR 2024.01
    ("1.2.250.1.213.1.1.1.13", FORMAT_VSM),  # VSM 1.4
    ("1.3.6.1.4.1.19376.1.2.20", FORMAT_N1_PDF),  # IHE XDS-SD (CDA N1)
)

# --- [MAP] submission set contentTypeCode (JDV_J59, 1.2.250.1.213.2.2): PV1-2 "O" (consultation) -> 07. The
# display is not in the stored reference (J59 expansion pending, notes §1.3): callers may pass their own.
CONTENT_TYPE_SYSTEM = "1.2.250.1.213.2.2"
CONTENT_TYPE_CONSULTATION = XdsCode("07", CONTENT_TYPE_SYSTEM, "Consultation externe")
