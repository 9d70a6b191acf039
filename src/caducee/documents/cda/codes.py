"""OIDs, templateIds and codes of the CI-SIS CDA documents (facts, each with its source).

Sources (copies in `../shared/reference/cda/`, ANS TestContenuCDA-3-0 snapshot 7cd489b3, 2025-02-19):
* [StrucMin] `schematrons/profils/structurationMinimale/include/1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch`
  (French header, ART-DECOR project ASIP-STRUCT-MIN) and its `voc-*.xml` value sets;
* [VSM] `examples/VSM_1.4_2022.01.xml` and `schematrons/CI-SIS_VSM_1.4_2022.01.sch`;
* [N1] `examples/DOC_NON_STRUCTURE_CDA-R2-N1.xml`;
* [IPS] `examples/IPS-FR_2024.01.xml`, `schematrons/CI-SIS_IPS-FR_2024.01.sch` (+ `Entete_IPS-FR.sch`) and the
  profile `FRCDAClinicalDocumentIPS.fsh` (ansforge/interop-ig-document-patient-summary);
* [Catalog] `examples/01_Modèles_contenus_CDA.xml` (every CI-SIS section/entry, including the
  "absent or unknown" patterns);
* [JDV] `jeuxDeValeurs/JDV_*.xml` (CI-SIS value sets).
Identifiers shared with other apps (INS OIDs, PS and structure id roots) stay in `caducee.core.oids`.
"""

from __future__ import annotations

from typing import NamedTuple

from caducee.core.oids import OID_PS_NATIONAL_ID, OID_STRUCTURE_ID

__all__ = ["OID_PS_NATIONAL_ID", "OID_STRUCTURE_ID"]

NS_HL7 = "urn:hl7-org:v3"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
# [IPS] IHE Pharmacy extension (pharm:asSpecializedKind…), XSD infrastructure/cda/pharmacy/.
NS_PHARM = "urn:ihe:pharm:medication"


class Code(NamedTuple):
    """A coded concept as written in a CD/CE element."""

    code: str
    system: str
    display: str
    system_name: str = ""


# --- Document-level templateIds -----------------------------------------------------------------
# [StrucMin] every CI-SIS document declares HL7 France + CI-SIS, plus at least one more templateId.
TPL_HL7_FRANCE = "2.16.840.1.113883.2.8.2.1"
TPL_CISIS = "1.2.250.1.213.1.1.1.1"
# [N1] IHE XDS-SD: a CDA N1 has exactly these three templateIds (StrucMin rule on nonXMLBody).
TPL_XDS_SD = "1.3.6.1.4.1.19376.1.2.20"
# [VSM] Volet de Synthèse Médicale 1.4: root checked by CI-SIS_VSM_1.4_2022.01.sch; the official
# 2022.01 example keeps the 2013 extension "201310", which we copy.
TPL_VSM = "1.2.250.1.213.1.1.1.13"
TPL_VSM_EXT = "201310"
# [IPS] IPS-FR 2024.01 "Synthèse médicale": the volet templateId (root checked by Entete_IPS-FR.sch; extension
# fixed by the FSH profile and used by validateCDA's mapping to pick CI-SIS_IPS-FR_2024.01.sch), and the IHE PCC IPS
# templateId (0..1 in the FSH, present in the example).
TPL_IPS = "1.2.250.1.213.1.1.1.51"
TPL_IPS_EXT = "2024.01"
TPL_IHE_PCC_IPS = "2.16.840.1.113883.10.22.1.1"

# --- HL7 / CDA infrastructure ------------------------------------------------------------------
TYPE_ID_ROOT = "2.16.840.1.113883.1.3"
TYPE_ID_EXT = "POCD_HD000040"

# --- Code systems (Terminologies.txt of the kit; notes §1.5) -------------------------------------
LOINC = "2.16.840.1.113883.6.1"
SNOMED_CT = "2.16.840.1.113883.6.96"
CIM10 = "2.16.840.1.113883.6.3"
# CCAM: 1.2.250.1.215.300.1 since TCC commit 2705876c (2025-02-17); it was 1.2.250.1.213.2.5 before.
CCAM = "1.2.250.1.215.300.1"
CIS = "1.2.250.1.213.2.3.1"
CIP = "1.2.250.1.213.2.3.2"
ATC = "2.16.840.1.113883.6.73"
EDQM = "0.4.0.127.0.16.1.1.2.1"
UCUM = "2.16.840.1.113883.6.8"
HL7_ACT_CODE = "2.16.840.1.113883.5.4"
HL7_PARTICIPATION_FUNCTION = "2.16.840.1.113883.5.88"
HL7_ROLE_CODE = "2.16.840.1.113883.5.111"
HL7_ADMINISTRATIVE_GENDER = "2.16.840.1.113883.5.1"
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
# HL7 IPS "Absent and Unknown Data" (JDV_AbsentOrUnknown*_CISIS, used by the CI-SIS [Catalog]).
IPS_ABSENT_UNKNOWN = "2.16.840.1.113883.5.1150.1"
# EMDN (dispositifs médicaux), FR-Dispositif-medical playingDevice/code ([IPS]).
EMDN = "1.2.250.1.213.2.68"
# FHIR allergyintolerance-clinical (JDV_HL7_allergyintolerance_clinical_CISIS, used by [VSM]).
FHIR_ALLERGY_CLINICAL = "2.16.840.1.113883.4.642.4.1373"
# J01 (author specialty, TRE_G15/R38 combined codes), J02 (TRE_R02 sector), J04 (practice setting), J07.
J01_SYSTEM = "1.2.250.1.213.1.1.4.5"
TRE_R02_SYSTEM = "1.2.250.1.71.4.2.4"
J04_SYSTEM = "1.2.250.1.213.1.1.4.9"
CISIS_DOC_TYPE_SYSTEM = "1.2.250.1.213.1.1.4.12"

# --- J07 document types used by the LGC (JDV_J07_XdsTypeCode_CISIS, 1.2.250.1.213.1.1.5.471) ---
DOC_SYNTH = Code("SYNTH", CISIS_DOC_TYPE_SYSTEM, "Synthèse")
DOC_CONSULTATION_REPORT = Code("11488-4", LOINC, "CR ou fiche de consultation ou de visite", "LOINC")
DOC_REFERRAL_LETTER = Code("96349-6", LOINC, "Lettre d'adressage", "LOINC")
DOC_MEDICAL_CERTIFICATE = Code("89601-9", LOINC, "Certificat médical", "LOINC")
DOC_DRUG_PRESCRIPTION = Code("57833-6", LOINC, "Prescription de produits de santé", "LOINC")
DOC_PATIENT_SUMMARY = Code("60591-5", LOINC, "Synthèse médicale", "LOINC")

# --- Header codes ------------------------------------------------------------------------------
# Confidentiality (2.16.840.1.113883.1.11.10228, StrucMin voc); display names as in the examples.
CONFIDENTIALITY = {"N": "Normal", "R": "Restreint", "V": "Très restreint"}
# J143 / JDV_HL7_AdministrativeGender_CISIS: F, M, UN. RNIV "I" (indéterminé) maps to UN.
GENDER = {"F": ("F", "Féminin"), "M": ("M", "Masculin"), "I": ("UN", "Inconnu")}
# JDV_EncompassingEncounterCode_CISIS: AMB "Ambulatoire (hors établissement)" for a practice.
ENCOUNTER_AMBULATORY = Code("AMB", HL7_ACT_CODE, "Ambulatoire (hors établissement)")
# J04 practice setting of an ambulatory practice.
PRACTICE_SETTING_AMBULATORY = Code("AMBULATOIRE", J04_SYSTEM, "Ambulatoire", "practiceSettingCode")
# J47 participant functionCode, ParticipationFunction. [VSM] the 1.4 schematron wants the display
# name written exactly "Médecin Traitant" (capital T) on participant INF.
FUNCTION_PCP = Code("PCP", HL7_PARTICIPATION_FUNCTION, "Médecin Traitant")
# The author's own functionCode when the author is the médecin traitant ([VSM] example; J47 display name).
AUTHOR_FUNCTION_PCP = Code("PCP", HL7_PARTICIPATION_FUNCTION, "Médecin traitant")
# [VSM] documentationOf/serviceEvent/code, with this exact display name and codeSystemName.
SERVICE_EVENT_HISTORY = Code("34117-2", LOINC, "Historique et clinique", "LOINC")
# Identifiant national de structure (TRE_G07 prefix + number), root 1.2.250.1.71.4.2.2.
STRUCTURE_PREFIX_FINESS = "1"
STRUCTURE_PREFIX_SIRET = "3"

# --- Body: section codes (LOINC) and templateIds ([VSM], notes §1.3) ---------------------------
SEC_PROBLEMS_HISTORY_ALLERGIES_RISKS = Code("46612-8", LOINC, "Conclusions de synthèse", "LOINC")
SEC_PROBLEMS_HISTORY_ALLERGIES = Code("34117-2", LOINC, "Historique et physique", "LOINC")
SEC_ACTIVE_PROBLEMS = Code("11450-4", LOINC, "Liste des problèmes actifs", "LOINC")
SEC_MEDICAL_HISTORY = Code("11348-0", LOINC, "Antécédents médicaux", "LOINC")
SEC_SURGICAL_HISTORY = Code("47519-4", LOINC, "Historique des actes", "LOINC")
SEC_ALLERGIES = Code("48765-2", LOINC, "Allergies et hypersensibilités", "LOINC")
SEC_RISK_FACTORS = Code(
    "57207-3", LOINC, "Facteurs de risque présents ou passés affectant l'état de santé et/ou une circonstance", "LOINC"
)
SEC_SOCIAL_HISTORY = Code("29762-2", LOINC, "Habitus, Mode de vie", "LOINC")
SEC_PROFESSIONAL_RISKS = Code("10161-8", LOINC, "Facteurs de risques professionnels", "LOINC")
SEC_FAMILY_HISTORY = Code("10157-6", LOINC, "Historique des pathologies familiales", "LOINC")
SEC_VIGILANCE = Code("30954-2", LOINC, "Résultats d'examens", "LOINC")
SEC_TREATMENT_PLAN = Code("18776-5", LOINC, "Plan de traitement", "LOINC")
SEC_MEDICATIONS = Code("10160-0", LOINC, "Traitements", "LOINC")
# [IPS] sections of the Synthèse médicale that the VSM does not have.
SEC_MEDICAL_DEVICES = Code("46264-8", LOINC, "Dispositifs médicaux", "LOINC")  # S_dispositifs_medicaux_ANS
SEC_ALERTS = Code("44944-7", LOINC, "Autres alertes", "LOINC")  # S_pointsDeVigilances-non-code_ANS
SEC_VITAL_SIGNS = Code("8716-3", LOINC, "Signes vitaux", "LOINC")  # S_vitalSigns / S_codedVitalSigns

T_SEC_PROBLEMS_HISTORY_ALLERGIES_RISKS = ("1.2.250.1.213.1.1.2.29",)
T_SEC_PROBLEMS_HISTORY_ALLERGIES = ("1.2.250.1.213.1.1.2.30",)
T_SEC_ACTIVE_PROBLEMS = ("2.16.840.1.113883.10.20.1.11", "1.3.6.1.4.1.19376.1.5.3.1.3.6", "1.2.250.1.213.1.1.2.132")
T_SEC_MEDICAL_HISTORY = ("1.3.6.1.4.1.19376.1.5.3.1.3.8", "1.2.250.1.213.1.1.2.134")
T_SEC_SURGICAL_HISTORY = (
    "2.16.840.1.113883.10.20.1.12",
    "1.3.6.1.4.1.19376.1.5.3.1.3.11",
    "1.3.6.1.4.1.19376.1.5.3.1.3.12",
    "1.2.250.1.213.1.1.2.136",
)
T_SEC_ALLERGIES = ("2.16.840.1.113883.10.20.1.2", "1.3.6.1.4.1.19376.1.5.3.1.3.13", "1.2.250.1.213.1.1.2.137")
T_SEC_RISK_FACTORS = ("1.2.250.1.213.1.1.2.31",)
T_SEC_SOCIAL_HISTORY = (
    "2.16.840.1.113883.10.20.1.15",
    "1.3.6.1.4.1.19376.1.5.3.1.3.16",
    "1.3.6.1.4.1.19376.1.5.3.1.3.16.1",
    "1.2.250.1.213.1.1.2.141",
)
T_SEC_PROFESSIONAL_RISKS = ("1.3.6.1.4.1.19376.1.5.3.1.1.5.3.1", "1.2.250.1.213.1.1.2.74")
T_SEC_FAMILY_HISTORY = (
    "2.16.840.1.113883.10.20.1.4",
    "1.3.6.1.4.1.19376.1.5.3.1.3.14",
    "1.3.6.1.4.1.19376.1.5.3.1.3.15",
    "1.2.250.1.213.1.1.2.139",
)
T_SEC_VIGILANCE = ("1.3.6.1.4.1.19376.1.5.3.1.3.27", "1.2.250.1.213.1.1.2.150")
T_SEC_TREATMENT_PLAN = ("1.2.250.1.213.1.1.2.32",)
T_SEC_MEDICATIONS = ("2.16.840.1.113883.10.20.1.8", "1.3.6.1.4.1.19376.1.5.3.1.3.19", "1.2.250.1.213.1.1.2.143")
# [IPS] FR-Dispositifs-medicaux: CCD Medical Equipment (the kit example and catalog misspell it
# "2.16.840.1.11383.10.20.1.7"; the CCD OID is written here), IHE PCC Medical Devices, CI-SIS.
T_SEC_MEDICAL_DEVICES = (
    "2.16.840.1.113883.10.20.1.7",
    "1.3.6.1.4.1.19376.1.5.3.1.1.5.3.5",
    "1.2.250.1.213.1.1.2.1",
)
# [IPS] FR-Points-de-vigilances-non-code (text only).
T_SEC_ALERTS = ("1.2.250.1.213.1.1.2.245",)
# [IPS] FR-Signes-vitaux: CCD, IHE PCC Vital Signs, IHE PCC Coded Vital Signs (needs ≥ 1 vital signs organizer,
# S_codedVitalSigns), CI-SIS.
T_SEC_VITAL_SIGNS = (
    "2.16.840.1.113883.10.20.1.16",
    "1.3.6.1.4.1.19376.1.5.3.1.3.25",
    "1.3.6.1.4.1.19376.1.5.3.1.1.5.3.2",
    "1.2.250.1.213.1.1.2.75",
)
T_SEC_VITAL_SIGNS_UNCODED = tuple(t for t in T_SEC_VITAL_SIGNS if t != "1.3.6.1.4.1.19376.1.5.3.1.1.5.3.2")

# --- Body: entry templateIds --------------------------------------------------------------------
T_PROBLEM_CONCERN = (  # FR-Liste-des-problemes
    "2.16.840.1.113883.10.20.1.27",
    "1.3.6.1.4.1.19376.1.5.3.1.4.5.1",
    "1.3.6.1.4.1.19376.1.5.3.1.4.5.2",
    "1.2.250.1.213.1.1.3.39",
)
T_PROBLEM = ("2.16.840.1.113883.10.20.1.28", "1.3.6.1.4.1.19376.1.5.3.1.4.5", "1.2.250.1.213.1.1.3.37")  # FR-Probleme
T_ALLERGY_CONCERN = (  # FR-Liste-des-allergies-et-hypersensibilites
    "2.16.840.1.113883.10.20.1.27",
    "1.3.6.1.4.1.19376.1.5.3.1.4.5.1",
    "1.3.6.1.4.1.19376.1.5.3.1.4.5.3",
    "1.2.250.1.213.1.1.3.40",
)
T_ALLERGY = (  # FR-Allergie-ou-hypersensibilite
    "2.16.840.1.113883.10.20.1.18",
    "2.16.840.1.113883.10.20.1.28",
    "1.3.6.1.4.1.19376.1.5.3.1.4.5",
    "1.3.6.1.4.1.19376.1.5.3.1.4.6",
    "1.2.250.1.213.1.1.3.41",
)
T_PROBLEM_STATUS = (  # FR-Statut-du-probleme
    "2.16.840.1.113883.10.20.1.50",
    "2.16.840.1.113883.10.20.1.57",
    "1.3.6.1.4.1.19376.1.5.3.1.4.1.1",
    "1.2.250.1.213.1.1.3.30",
)
T_SEVERITY = ("2.16.840.1.113883.10.20.1.55", "1.3.6.1.4.1.19376.1.5.3.1.4.1", "1.2.250.1.213.1.1.3.29")  # FR-Severite
T_PROCEDURE = ("1.3.6.1.4.1.19376.1.5.3.1.4.19", "2.16.840.1.113883.10.20.1.29", "1.2.250.1.213.1.1.3.62")  # FR-Acte
T_INTERNAL_REFERENCE = ("1.3.6.1.4.1.19376.1.5.3.1.4.4.1", "1.2.250.1.213.1.1.3.36")  # FR-Reference-interne
T_SOCIAL_HISTORY_OBS = (  # FR-Habitus-Mode-de-vie
    "2.16.840.1.113883.10.20.1.33",
    "1.3.6.1.4.1.19376.1.5.3.1.4.13",
    "1.3.6.1.4.1.19376.1.5.3.1.4.13.4",
    "1.2.250.1.213.1.1.3.52",
)
T_FAMILY_ORGANIZER = ("2.16.840.1.113883.10.20.1.23", "1.3.6.1.4.1.19376.1.5.3.1.4.15", "1.2.250.1.213.1.1.3.59")
T_FAMILY_SUBJECT = ("1.3.6.1.4.1.19376.1.5.3.1.4.15.2", "1.2.250.1.213.1.1.3.60")  # FR-Sujet
T_FAMILY_OBSERVATION = (  # FR-Antecedent-familial-observe
    "2.16.840.1.113883.10.20.1.22",
    "1.3.6.1.4.1.19376.1.5.3.1.4.13",
    "1.3.6.1.4.1.19376.1.5.3.1.4.13.3",
    "1.2.250.1.213.1.1.3.51",
)
T_MEDICATION = (  # FR-Traitement (mode d'administration normal)
    "2.16.840.1.113883.10.20.1.24",
    "1.3.6.1.4.1.19376.1.5.3.1.4.7",
    "1.2.250.1.213.1.1.3.42",
    "1.3.6.1.4.1.19376.1.5.3.1.4.7.1",
)
T_PRODUCT = ("2.16.840.1.113883.10.20.1.53", "1.3.6.1.4.1.19376.1.5.3.1.4.7.2", "1.2.250.1.213.1.1.3.43")
# [IPS] FR-Traitement of the Synthèse médicale also declares "Traitement au long cours" (1.2.250.1.213.1.1.3.42.3).
T_MEDICATION_LONG_TERM = (*T_MEDICATION, "1.2.250.1.213.1.1.3.42.3")
# [IPS] FR-Dispositif-medical (supply, E_dispositifMedical-2_ANS): CCD Supply Activity + CI-SIS.
T_MEDICAL_DEVICE = ("2.16.840.1.113883.10.20.1.34", "1.2.250.1.213.1.1.3.20")
# [IPS] FR-Signes-vitaux organizer and FR-Signe-vital-observe (E_vitalSignsOrganizer_*, E_vitalSignsObservation_*).
T_VITAL_SIGNS_ORGANIZER = (
    "2.16.840.1.113883.10.20.1.32",
    "2.16.840.1.113883.10.20.1.35",
    "1.3.6.1.4.1.19376.1.5.3.1.4.13.1",
    "1.2.250.1.213.1.1.3.49",
)
T_VITAL_SIGN = (
    "2.16.840.1.113883.10.20.1.31",
    "1.3.6.1.4.1.19376.1.5.3.1.4.13",
    "1.3.6.1.4.1.19376.1.5.3.1.4.13.2",
    "1.2.250.1.213.1.1.3.50",
)

# --- Body: entry codes -------------------------------------------------------------------------
# JDV_ProblemCodes_CISIS (1.2.250.1.213.1.1.5.172); [VSM] uses "interprétation diagnostique".
PROBLEM_DIAGNOSIS = Code("282291009", SNOMED_CT, "interprétation diagnostique", "SNOMED CT")
PROBLEM_GENERIC = Code("55607006", SNOMED_CT, "problème", "SNOMED CT")
# JDV_TypeEvenementIndesirablePrevisible_CISIS (1.2.250.1.213.1.1.5.794), SNOMED CT allergy types.
ALLERGY_DRUG = Code("416098002", SNOMED_CT, "allergie médicamenteuse", "SNOMED CT")
ALLERGY_SUBSTANCE = Code("419199007", SNOMED_CT, "allergie à une substance", "SNOMED CT")
INTOLERANCE_DRUG = Code("59037007", SNOMED_CT, "intolérance aux drogues et/ou médicaments", "SNOMED CT")
INTOLERANCE_SUBSTANCE = Code("782197009", SNOMED_CT, "intolérance à une substance", "SNOMED CT")
PROBLEM_STATUS = Code("33999-4", LOINC, "Status", "LOINC")
ALLERGY_ACTIVE = Code("active", FHIR_ALLERGY_CLINICAL, "Actif")
SEVERITY = Code("SEV", HL7_ACT_CODE, "Sévérité", "HL7:ActCode")
# FR-Severite value: JDV_SeveriteObservation_CISIS (1.2.250.1.213.1.1.5.675), as in [Catalog];
# keys are record.Allergy.Severity (L, M, H).
SEVERITY_VALUES = {
    "L": Code("255604002", SNOMED_CT, "léger", "SNOMED CT"),
    "M": Code("6736007", SNOMED_CT, "modéré", "SNOMED CT"),
    "H": Code("24484000", SNOMED_CT, "grave", "SNOMED CT"),
}
DRUG = Code("DRUG", HL7_ACT_CODE, "Médicament", "HL7:ActCode")

# [Catalog] "absent or unknown" codes (JDV_AbsentOrUnknown{Problem,Allergy,Medication,Procedure}_CISIS).
NO_PROBLEM_INFO = Code("no-problem-info", IPS_ABSENT_UNKNOWN, "Pas d'information sur les problèmes")
NO_ALLERGY_INFO = Code("no-allergy-info", IPS_ABSENT_UNKNOWN, "Pas d’information sur les allergies/hypersensibilités")
NO_KNOWN_ALLERGIES = Code("no-known-allergies", IPS_ABSENT_UNKNOWN, "Pas d'allergie/hypersensibilité connue")
NO_MEDICATION_INFO = Code(
    "no-medication-info", IPS_ABSENT_UNKNOWN, "Pas d'information sur les traitements médicamenteux"
)
NO_PROCEDURE_INFO = Code("no-procedure-info", IPS_ABSENT_UNKNOWN, "Pas d'information sur les actes et interventions")
# JDV_AbsentOrUnknownDevices_CISIS (1.2.250.1.213.1.1.5.663); the record keeps no devices, so "no information".
NO_DEVICE_INFO = Code("no-device-info", IPS_ABSENT_UNKNOWN, "Pas d'information sur les dispositifs médicaux")

# [IPS] FR-Signes-vitaux organizer code (E_vitalSignsOrganizer_fr: 85353-1).
VITAL_SIGNS_PANEL = Code("85353-1", LOINC, "Signes vitaux", "LOINC")
# FR-Signe-vital-observe: code from JDV_SignesVitaux_CISIS (1.2.250.1.213.1.1.5.171, checked by JDV_vitalSignCode)
# and the UCUM units E_vitalSignsObservation_int accepts for it. Keys are record.Vital.Kind values; SpO2
# 59408-5 (pulse oximetry) is not in the value set: it is written as 20564-1 "Saturation en O2" with the
# recorded code as translation.
VITAL_SIGNS: dict[str, tuple[Code, frozenset[str]]] = {
    "29463-7": (Code("29463-7", LOINC, "Poids", "LOINC"), frozenset({"kg", "g", "[lb_av]", "[oz_av]"})),
    "8302-2": (Code("8302-2", LOINC, "Taille", "LOINC"), frozenset({"m", "cm", "[in_us]", "[in_uk]"})),
    "39156-5": (Code("39156-5", LOINC, "Index de masse corporelle (IMC)", "LOINC"), frozenset({"kg/m2"})),
    "8480-6": (Code("8480-6", LOINC, "Pression artérielle systolique", "LOINC"), frozenset({"mm[Hg]"})),
    "8462-4": (Code("8462-4", LOINC, "Pression artérielle diastolique", "LOINC"), frozenset({"mm[Hg]"})),
    "8867-4": (Code("8867-4", LOINC, "Fréquence cardiaque", "LOINC"), frozenset({"/min"})),
    "8310-5": (Code("8310-5", LOINC, "Température corporelle", "LOINC"), frozenset({"Cel", "[degF]"})),
    "59408-5": (Code("20564-1", LOINC, "Saturation en O2", "LOINC"), frozenset({"%"})),
}

# JDV_SocialHistoryCodes_CISIS (1.2.250.1.213.1.1.4.2.283.4): FR-Habitus-Mode-de-vie codes; keys are
# record.Lifestyle.Kind values.
SOCIAL_HISTORY = {
    "72166-2": "Statut tabagique",
    "74011-8": "Consommation tabagique",
    "74013-4": "Consommation d'alcool",
    "11343-1": "Consommation de drogue non médicales",
    "73985-4": "Exercice physique",
}

# HL7 RoleCode display names for the family relations of record.FamilyHistory.Relation.
FAMILY_RELATIONS = {
    "MTH": "Mère",
    "FTH": "Père",
    "SIB": "Frère ou sœur",
    "CHILD": "Enfant",
    "GRPRN": "Grand-parent",
    "FAMMEMB": "Membre de la famille",
}
