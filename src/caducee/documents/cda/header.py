"""The French CDA R2 header ("structuration minimale" of the CI-SIS, template 1.2.250.1.213.1.1.1.1).

Rules followed, from the StrucMin schematron (`profils/structurationMinimale/include/
1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch`) and ANS IG-document-core `FRCDAClinicalDocument.fsh`:
realmCode FR, typeId, ≥ 3 templateIds, id, code (J07), title, effectiveTime, confidentialityCode,
languageCode fr-FR, setId, versionNumber, one recordTarget, ≥ 1 author, one custodian, one
legalAuthenticator with signatureCode S, ≥ 1 documentationOf/serviceEvent (the first one with exactly one
effectiveTime and one performer), ≤ 1 relatedDocument RPLC, one componentOf/encompassingEncounter.

Patient identifiers: the matricule INS is written only when `transmissible_ins` returns it (INS rule R28:
QUAL identity only); the local IPP (under the practice OID) is always written. When the INS is present,
StrucMin requires the birth traits: family BR, given BR (first given name), given (all birth given
names), birthTime, birthplace/place/addr/county (COG) and administrativeGenderCode.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from caducee.accounts.models import Practice, User
from caducee.accounts.replacement import open_replacement_for
from caducee.core.errors import SandboxDataError
from caducee.documents.cda import codes
from caducee.documents.cda.codes import Code
from caducee.documents.cda.tables import J01_AUTHOR_SPECIALTY, J02_FACILITY_SECTORS
from caducee.documents.cda.xml import E, Element, attrs, coded, ii, template_ids, ts_date, ts_datetime, ts_partial
from caducee.identity.ins import transmissible_ins
from caducee.identity.models import UNKNOWN_BIRTHPLACE, Identity
from caducee.patients.models import Correspondent, Patient

# The practice's OID arcs. documents.services builds document ids from the same root and imports DocumentIds
# from here, so these live here (no import back into services: that would be circular).
# Fallback root when a practice has no OID of its own yet (demo, tests): a private test arc.
DEFAULT_OID_ROOT = "1.2.250.1.999.1"


def practice_oid_root(practice: Practice | None) -> str:
    return (practice.oid_root if practice else "") or DEFAULT_OID_ROOT


def patient_ipp_root(practice: Practice | None) -> str:
    """The OID of the practice's local patient identifiers (IPP = Patient.pk): practice root + ".2"."""
    return practice_oid_root(practice) + ".2"


class MissingDataError(ValueError):
    """Mandatory data is missing: nothing is generated. `problems` are plain French sentences."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(" ; ".join(self.problems))


class DocumentIdsLike(Protocol):
    """What the header needs from document identifiers: DocumentIds or any object with these attributes."""

    @property
    def unique_id_root(self) -> str: ...
    @property
    def unique_id_ext(self) -> str: ...
    @property
    def set_id_root(self) -> str: ...
    @property
    def set_id_ext(self) -> str: ...
    @property
    def version(self) -> int: ...


@dataclass(frozen=True)
class DocumentIds:
    """ClinicalDocument/id, setId and versionNumber. A replacement keeps the setId and bumps the version."""

    unique_id_root: str
    unique_id_ext: str
    set_id_root: str
    set_id_ext: str
    version: int = 1


@dataclass(frozen=True)
class HeaderInput:
    ids: DocumentIdsLike
    practice: Practice
    author: User
    patient: Patient
    effective_time: dt.datetime
    type_code: Code
    title: str
    # Document-specific templateIds (root, extension) after HL7 France + CI-SIS (StrucMin: ≥ 1 more).
    template_ids: tuple[tuple[str, str | None], ...]
    confidentiality: str = "N"
    # The document this one replaces (relatedDocument typeCode RPLC, used by the DMP to replace a version).
    replaces: DocumentIdsLike | None = None
    service_event_code: Code | None = None
    # Extra header participants (e.g. the VSM's médecin traitant), placed where the CDA schema wants them.
    participants: tuple[Element, ...] = field(default_factory=tuple)
    # author/functionCode (e.g. PCP when the author is the patient's médecin traitant).
    author_function: Code | None = None


# --- Checks before generation ------------------------------------------------------------------


def author_code(user: User) -> Code | None:
    """The J01 code of a professional: G15_<profession>/<specialty> when listed, else G15_<profession>."""
    if not user.profession_code:
        return None
    candidates = [f"G15_{user.profession_code}"]
    if user.specialty_code:
        candidates.insert(0, f"G15_{user.profession_code}/{user.specialty_code}")
    for candidate in candidates:
        if candidate in J01_AUTHOR_SPECIALTY:
            system, display = J01_AUTHOR_SPECIALTY[candidate]
            return Code(candidate, system, display)
    return None


def header_problems(*, practice: Practice | None, author: User | None, patient: Patient) -> list[str]:
    """Mandatory data missing for a CI-SIS header, in plain French (issue 3 §5: listed before generation)."""
    problems: list[str] = []
    if practice is None or not practice.name.strip():
        problems.append("Le nom du cabinet n'est pas renseigné (paramètres du cabinet).")
    if author is None:
        problems.append("Aucun médecin auteur n'est désigné pour ce document.")
    else:
        who = author.display_name()
        if not author.national_id:
            problems.append(f"Le numéro RPPS (ou ADELI) de l'auteur {who} n'est pas renseigné.")
        if author_code(author) is None:
            problems.append(f"La profession ou la spécialité de l'auteur {who} n'est pas renseignée ou est inconnue.")
        if not (author.last_name or "").strip():
            problems.append(f"Le nom de famille de l'auteur {who} n'est pas renseigné.")
    identity = patient.identity
    if not identity.birth_name.strip() or not identity.first_given_name.strip():
        problems.append("Le nom ou le prénom de naissance du patient n'est pas renseigné.")
    if identity.sex not in codes.GENDER:
        problems.append("Le sexe du patient n'est pas renseigné.")
    if ts_partial(identity.birth_date) is None:
        problems.append("La date de naissance du patient n'est pas renseignée.")
    # R28 gate: a production practice holding sandbox/test identities is refused; say it instead of failing later.
    try:
        ins = transmissible_ins(identity)
    except SandboxDataError as exc:
        problems.append(str(exc))
        ins = None
    # StrucMin (INS rule): with a matricule INS, the birthplace COG code is mandatory. The INS is written for
    # QUAL identities only (R28), so only they need it.
    if ins is not None and not _birthplace(identity):
        problems.append(
            "Le lieu de naissance (code COG) du patient est inconnu : il est obligatoire pour une identité qualifiée."
        )
    return problems


def check_header(*, practice: Practice | None, author: User | None, patient: Patient) -> None:
    problems = header_problems(practice=practice, author=author, patient=patient)
    if problems:
        raise MissingDataError(problems)


def _replacement_participants(author: User, practice: Practice) -> tuple[Element, ...]:
    """The replaced doctor while the author works as his remplaçant (accounts.replacement), else nothing."""
    current = open_replacement_for(author)
    if current is None:
        return ()
    return (replaced_participant(current.replaced, practice, current.opened_at),)


# --- Builders ----------------------------------------------------------------------------------


def _birthplace(identity: Identity) -> str | None:
    code = (identity.birthplace_cog or "").strip()
    return code if code and code != UNKNOWN_BIRTHPLACE else None


def structure_id(practice: Practice) -> Element:
    """Identifiant national de structure (TRE_G07 prefix: 1 + FINESS, 3 + SIRET) under 1.2.250.1.71.4.2.2.

    A cabinet with neither number is identified under its own OID root.
    """
    if practice.finess:
        return ii(codes.OID_STRUCTURE_ID, codes.STRUCTURE_PREFIX_FINESS + practice.finess)
    if practice.siret:
        return ii(codes.OID_STRUCTURE_ID, codes.STRUCTURE_PREFIX_SIRET + practice.siret)
    return ii(practice_oid_root(practice))


# "12 bis rue des Tilleuls" → houseNumber "12 bis", streetName "rue des Tilleuls".
_HOUSE_NUMBER = re.compile(r"^\s*(\d+(?:\s*(?:bis|ter|quater|[a-z]))?)\b[\s,]*(.+)$", re.IGNORECASE)


def address(line: str, postal_code: str, city: str) -> Element:
    """A structured AD (houseNumber, streetName, postalCode, city), as in the CI-SIS examples.

    StrucMin (CI-SISAddr) wants either free `streetAddressLine`s or the structured parts, not a mix.
    """
    parts: list[Element] = []
    line = " ".join((line or "").split())
    if line:
        match = _HOUSE_NUMBER.match(line)
        if match:
            parts += [E.houseNumber(match.group(1)), E.streetName(match.group(2))]
        else:
            parts.append(E.streetName(line))
    if postal_code and postal_code.strip():
        parts.append(E.postalCode(postal_code.strip()))
    if city and city.strip():
        parts.append(E.city(city.strip()))
    return E.addr(*parts) if parts else E.addr(nullFlavor="UNK")


def practice_address(practice: Practice) -> Element:
    return address(practice.address_line, practice.postal_code, practice.city)


def telecom(phone: str, use: str | None = None) -> Element:
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return E.telecom(attrs(value="tel:" + digits, use=use)) if digits else E.telecom(nullFlavor="UNK")


def person_name(user: User) -> Element:
    # J246 titre: DR for médecins (TRE_G15 10) and chirurgiens-dentistes (40).
    children = []
    if user.first_name:
        children.append(E.given(user.first_name))
    children.append(E.family(user.last_name or user.username))
    if user.profession_code in ("10", "40"):
        children.append(E.suffix("DR"))
    return E.name(*children)


def organization(tag: str, practice: Practice, *, setting: bool = False) -> Element:
    """representedOrganization / scopingOrganization / representedCustodianOrganization of the practice."""
    children = [structure_id(practice), E.name(practice.name)]
    if tag == "representedCustodianOrganization":
        children.append(telecom(practice.phone, "WP"))
        children.append(practice_address(practice))
    else:
        if practice.phone:
            children.append(telecom(practice.phone, "WP"))
        children.append(practice_address(practice))
    if setting:
        # J04 practice setting (standardIndustryClassCode): an LGC is ambulatory care.
        children.append(coded("standardIndustryClassCode", codes.PRACTICE_SETTING_AMBULATORY))
    return E(tag, *children)


def professional_id(user: User) -> Element:
    """8 + RPPS (or 0 + ADELI) under 1.2.250.1.71.4.2.1 — the idNat_PS of the CI-SIS."""
    return ii(codes.OID_PS_NATIONAL_ID, user.national_id)


def _code_of(user: User) -> Element:
    code = author_code(user)
    if code is None:  # refused earlier by header_problems
        return E.code(nullFlavor="UNK")
    return coded("code", code)


def assigned_entity(user: User, practice: Practice, *, with_code: bool = True) -> Element:
    children = [professional_id(user)]
    if with_code:
        children.append(_code_of(user))
    children += [
        practice_address(practice),
        telecom(practice.phone, "WP"),
        E.assignedPerson(person_name(user)),
        organization("representedOrganization", practice, setting=True),
    ]
    return E.assignedEntity(*children)


def record_target(patient: Patient, practice: Practice) -> Element:
    identity = patient.identity
    ids: list[Element] = []
    ins = transmissible_ins(identity)  # R28: None unless QUAL
    if ins is not None:
        ids.append(ii(ins.oid, ins.matricule))
    ids.append(ii(patient_ipp_root(practice), str(patient.pk)))

    # INS traits (StrucMin INS rule; RNIV): birth name BR, all birth given names, first given name BR.
    name_parts = [
        E.family(identity.birth_name, qualifier="BR"),
        E.given(" ".join(identity.given_names_list)),
        E.given(identity.first_given_name, qualifier="BR"),
    ]
    if identity.used_name:
        name_parts.append(E.family(identity.used_name, qualifier="CL"))
    if identity.used_given_name:
        name_parts.append(E.given(identity.used_given_name, qualifier="CL"))

    gender_code, gender_label = codes.GENDER.get(identity.sex, ("UN", "Inconnu"))
    birth = ts_partial(identity.birth_date)
    patient_children = [
        E.name(*name_parts),
        E.administrativeGenderCode(
            code=gender_code, displayName=gender_label, codeSystem=codes.HL7_ADMINISTRATIVE_GENDER
        ),
        E.birthTime(value=birth) if birth else E.birthTime(nullFlavor="UNK"),
    ]
    birthplace = _birthplace(identity)
    if birthplace:
        patient_children.append(E.birthplace(E.place(E.addr(E.county(birthplace)))))

    role_children = [*ids, address(patient.address_line, patient.postal_code, patient.city)]
    if patient.phone:
        role_children.append(telecom(patient.phone, "H"))
    if patient.email:
        role_children.append(E.telecom(value="mailto:" + patient.email))
    role_children.append(E.patient(*patient_children, classCode="PSN"))
    return E.recordTarget(E.patientRole(*role_children))


def medecin_traitant_time(patient: Patient) -> Element:
    """participant/time of the médecin traitant: the date of the déclaration de choix du médecin traitant when it
    was made (what the CI-SIS VSM and the IPS-FR examples carry there, `low` only), else the date he has followed
    the patient since, else unknown (StrucMin wants the element; its low needs a value, hence the nullFlavor on time
    itself)."""
    day = patient.medecin_traitant_declared_on if patient.medecin_traitant_declared else None
    day = day or patient.medecin_traitant_since
    return E.time(E.low(value=ts_date(day))) if day is not None else E.time(nullFlavor="UNK")


def _correspondent_entity(correspondent: Correspondent) -> Element:
    """An outside médecin traitant from the address book: IdNat PS when known (StrucMin: an id has root and
    extension), address, MSSanté mailbox, name."""
    children: list[Element] = []
    national_id = correspondent.national_id.strip()
    if national_id.isascii() and national_id.isdigit():
        children.append(ii(codes.OID_PS_NATIONAL_ID, national_id))
    children.append(address(correspondent.address_line, correspondent.postal_code, correspondent.city))
    if correspondent.phone.strip():
        children.append(telecom(correspondent.phone, "WP"))
    if correspondent.mss_address:
        children.append(E.telecom(value="mailto:" + correspondent.mss_address))
    name: list[Element] = []
    if correspondent.given_name.strip():
        name.append(E.given(correspondent.given_name.strip()))
    family = correspondent.family_name.strip() or correspondent.organisation.strip() or str(correspondent)
    name.append(E.family(family))
    if correspondent.civility.strip().rstrip(".").upper() in ("DR", "PR"):
        name.append(E.suffix("DR"))
    children.append(E.associatedPerson(E.name(*name)))
    return E.associatedEntity(*children, classCode="PROV")


def pcp_participant(patient: Patient, practice: Practice) -> Element:
    """The patient's médecin traitant as header participant INF / functionCode PCP.

    VSM 1.4 (CI-SIS_VSM_1.4_2022.01.sch) wants exactly one, with displayName "Médecin Traitant"; that assert
    follows a same-context rule and never fires, but the specification asks for it, so it is always written.
    A doctor of the practice comes with his RPPS, an outside correspondent with his IdNat PS and MSSanté mailbox,
    a médecin traitant known by name only with his name; an undeclared one is written as unknown. The time is the
    declaration's date (`medecin_traitant_time`).
    """
    doctor = patient.medecin_traitant
    if doctor is not None:
        entity = E.associatedEntity(
            professional_id(doctor),
            practice_address(practice),
            telecom(practice.phone, "WP"),
            E.associatedPerson(person_name(doctor)),
            organization("scopingOrganization", practice),
            classCode="PROV",
        )
    elif patient.medecin_traitant_correspondent is not None:
        entity = _correspondent_entity(patient.medecin_traitant_correspondent)
    else:
        # StrucMin CI-SISParticipant: an id needs root and extension, so a professional without a known
        # RPPS has no id; associatedPerson/name/family is required, hence a nullFlavor when undeclared.
        external = patient.medecin_traitant_externe.strip()
        family = E.family(external) if external else E.family(nullFlavor="UNK")
        entity = E.associatedEntity(E.associatedPerson(E.name(family)), classCode="PROV")
    return E.participant(
        coded("functionCode", codes.FUNCTION_PCP, name=False),
        medecin_traitant_time(patient),
        entity,
        typeCode="INF",
    )


# TRE_R258 RelationPriseCharge "CORRE" (JDV_J47_FunctionCode_CISIS): the function the ANS eP-MED-DM 2024.01 example
# gives the replaced professional (« PS remplacé, obligatoire si prescription faite par un PS remplaçant »).
FUNCTION_REPLACED = Code("CORRE", "1.2.250.1.213.1.1.4.2.280", "Correspondant")


def replaced_participant(doctor: User, practice: Practice, since: dt.datetime) -> Element:
    """The doctor the author replaces, as header participant CON / functionCode CORRE (ANS eP-MED-DM 2024.01
    example): the author stays the remplaçant, with his own RPPS; the replacement's start is the participation
    time. StrucMin CI-SISParticipant: an id needs root and extension, so a doctor without RPPS/ADELI has none."""
    entity: list[Element] = []
    if doctor.national_id:
        entity.append(professional_id(doctor))
    if author_code(doctor) is not None:
        entity.append(_code_of(doctor))
    entity += [
        practice_address(practice),
        telecom(practice.phone, "WP"),
        E.associatedPerson(person_name(doctor)),
        organization("scopingOrganization", practice),
    ]
    return E.participant(
        coded("functionCode", FUNCTION_REPLACED, name=False),
        E.time(E.low(value=ts_datetime(since))),
        E.associatedEntity(*entity, classCode="PROV"),
        typeCode="CON",
    )


def build_header(h: HeaderInput) -> Element:
    """A ClinicalDocument carrying the whole CI-SIS header; the caller appends the body `component`.

    Raises MissingDataError (plain French) when mandatory data is missing; nothing is built then.
    """
    check_header(practice=h.practice, author=h.author, patient=h.patient)
    practice, author = h.practice, h.author
    when = ts_datetime(h.effective_time)
    confidentiality = h.confidentiality if h.confidentiality in codes.CONFIDENTIALITY else "N"

    doc = E.ClinicalDocument(
        E.realmCode(code="FR"),
        E.typeId(root=codes.TYPE_ID_ROOT, extension=codes.TYPE_ID_EXT),
        *template_ids((codes.TPL_HL7_FRANCE, codes.TPL_CISIS)),
        *[E.templateId(attrs(root=root, extension=ext)) for root, ext in h.template_ids],
        ii(h.ids.unique_id_root, h.ids.unique_id_ext),
        coded("code", h.type_code),
        E.title(h.title),
        E.effectiveTime(value=when),
        E.confidentialityCode(
            code=confidentiality,
            displayName=codes.CONFIDENTIALITY[confidentiality],
            codeSystem=codes.HL7_CONFIDENTIALITY,
            codeSystemName="Confidentiality",
        ),
        E.languageCode(code="fr-FR"),
        E.setId(attrs(root=h.ids.set_id_root, extension=h.ids.set_id_ext)),
        E.versionNumber(value=str(h.ids.version)),
        record_target(h.patient, practice),
        E.author(
            *([coded("functionCode", h.author_function, name=False)] if h.author_function else []),
            E.time(value=when),
            E.assignedAuthor(
                professional_id(author),
                _code_of(author),
                practice_address(practice),
                telecom(practice.phone, "WP"),
                E.assignedPerson(person_name(author)),
                organization("representedOrganization", practice),
            ),
        ),
        E.custodian(E.assignedCustodian(organization("representedCustodianOrganization", practice))),
        E.legalAuthenticator(E.time(value=when), E.signatureCode(code="S"), assigned_entity(author, practice)),
        *h.participants,
        *_replacement_participants(author, practice),
    )
    service_event = [
        E.effectiveTime(E.low(value=when)),
        E.performer(assigned_entity(author, practice), typeCode="PRF"),
    ]
    if h.service_event_code is not None:
        service_event.insert(0, coded("code", h.service_event_code))
    doc.append(E.documentationOf(E.serviceEvent(*service_event)))
    if h.replaces is not None:
        doc.append(
            E.relatedDocument(
                # StrucMin CI-SISRelatedDocument: parentDocument carries the replaced id and its versionNumber.
                E.parentDocument(
                    ii(h.replaces.unique_id_root, h.replaces.unique_id_ext),
                    E.versionNumber(value=str(h.replaces.version)),
                ),
                typeCode="RPLC",
            )
        )
    facility_code = practice.activity_sector or "SA07"
    doc.append(
        E.componentOf(
            E.encompassingEncounter(
                coded("code", codes.ENCOUNTER_AMBULATORY),
                E.effectiveTime(E.low(value=when)),
                E.responsibleParty(assigned_entity(author, practice)),
                E.location(
                    E.healthCareFacility(
                        structure_id(practice),
                        E.code(
                            attrs(
                                code=facility_code,
                                displayName=J02_FACILITY_SECTORS.get(facility_code, facility_code),
                                codeSystem=codes.TRE_R02_SYSTEM,
                            )
                        ),
                        E.location(E.name(practice.name), practice_address(practice)),
                    )
                ),
            )
        )
    )
    return doc
