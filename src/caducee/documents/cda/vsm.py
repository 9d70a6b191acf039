"""Volet de Synthèse Médicale (VSM) 1.4, CI-SIS release 2022.01 — CDA R2 level 3, built from the record.

Model: `examples/VSM_1.4_2022.01.xml` and `schematrons/CI-SIS_VSM_1.4_2022.01.sch` (ANS TestContenuCDA-3-0),
sections and entries checked by the generic profiles `CI-SIS_ModelesDeContenusCDA.sch` (IHE/FR entries) and
`CI-SIS_Modeles_ANS.sch` (ANS sections). Body:

* FR-Pathologies-antecedents-allergies-facteurs-de-risque (1.2.250.1.213.1.1.2.29, required), holding
  - FR-Pathologies-antecedents-allergies (.2.30): problèmes actifs, antécédents médicaux, antécédents
    chirurgicaux, allergies — all four always present (so the section carries no text of its own), coded;
  - FR-Facteurs-de-risque (.2.31): habitus, facteurs de risque professionnels, antécédents familiaux;
* Points de vigilance (IHE Results 1.3.6.1.4.1.19376.1.5.3.1.3.27 + 1.2.250.1.213.1.1.2.150, text only);
* FR-Traitements-au-long-cours (1.2.250.1.213.1.1.2.32) with its sub-section Traitements (FR-Traitement entries).

"Nothing recorded" is never turned into "nothing to report": an empty coded list is written with the CI-SIS
"absent or unknown" codes (`examples/01_Modèles_contenus_CDA.xml`): `no-problem-info`, `no-procedure-info`,
`no-medication-info`, and for allergies `no-allergy-info` (not documented) versus `no-known-allergies` (the
professional asserted "aucune allergie connue", record.AllergyStatement).

The doctor can untick elements in the validation panel: `vsm_elements` lists them with stable keys
("problem:12", "allergy:3", "allergy:none"…) and `build_vsm(exclude=…)` drops each excluded key from both the
narrative and the entries.

VSM 1.4 has no section for a PDF copy of the document (that "FR-Document-PDF-copie" section belongs to newer
volets such as CR-BIO 2024.01): the human-readable PDF is stored beside the CDA, not inside it. The record's
vital signs have no section in VSM 1.4 either (IPS-FR carries them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Q
from lxml import etree

from caducee.accounts.models import Practice, User
from caducee.documents.cda import codes
from caducee.documents.cda.codes import Code
from caducee.documents.cda.header import (
    DocumentIdsLike,
    HeaderInput,
    MissingDataError,
    build_header,
    header_problems,
    pcp_participant,
    practice_oid_root,
)
from caducee.documents.cda.narrative import Cell, content, french_date, paragraph, table, text_block
from caducee.documents.cda.tables import EDQM_ROUTES
from caducee.documents.cda.xml import (
    XSI_TYPE,
    E,
    Element,
    attrs,
    coded,
    ivl_ts,
    number,
    original_text,
    reference,
    stable_uuid,
    template_ids,
    ts_date,
)
from caducee.patients.models import Ald
from caducee.record.models import (
    Allergy,
    Concept,
    FamilyHistory,
    Lifestyle,
    LongTermTreatment,
    Problem,
)
from caducee.record.selectors import RecordSummary

__all__ = ["MissingDataError", "VsmElement", "build_vsm", "vsm_elements", "vsm_problems"]

TITLE = "Volet de synthèse médicale"

# Section labels shown in the validation panel (and used as section titles).
S_ACTIVE = "Pathologies en cours"
S_MEDICAL = "Antécédents médicaux"
S_SURGICAL = "Antécédents chirurgicaux"
S_ALLERGIES = "Allergies et intolérances"
S_LIFESTYLE = "Habitus, mode de vie"
S_PROFESSIONAL = "Facteurs de risque professionnels"
S_FAMILY = "Antécédents familiaux"
S_VIGILANCE = "Points de vigilance"
S_TREATMENTS = "Traitements au long cours"

KEY_NO_KNOWN_ALLERGY = "allergy:none"

# (code system OID, code) → official label ("" when the terminology has none).
LabelCache = dict[tuple[str, str], str]


@dataclass(frozen=True)
class VsmElement:
    """One line of the VSM the doctor may untick: a stable key, its section and its text."""

    key: str
    section_label: str
    text: str


# --- Element texts (shared by the panel and the narrative) --------------------------------------


def _since(day: dt.date | None) -> str:
    return f" — depuis le {french_date(day)}" if day else ""


def _coded_suffix(code: str) -> str:
    return f" ({code})" if code else ""


def _problem_text(problem: Problem) -> str:
    return problem.label + _coded_suffix(problem.cim10_code)


def _ald_codes(ald: Ald) -> list[str]:
    return ald.cim10_codes.split() if ald.cim10_codes else []


def _ald_text(ald: Ald) -> str:
    return f"{ald.label} (ALD{', ' + ', '.join(_ald_codes(ald)) if ald.cim10_codes else ''})"


def _allergy_kind(allergy: Allergy) -> str:
    word = "Intolérance" if allergy.is_intolerance else "Allergie"
    if allergy.agent_kind == Allergy.AgentKind.DRUG:
        return f"{word} médicamenteuse"
    return f"{word} à une substance" if allergy.agent_kind == Allergy.AgentKind.SUBSTANCE else word


def _allergy_text(allergy: Allergy) -> str:
    parts = [f"{_allergy_kind(allergy)} : {allergy.agent_label}"]
    if allergy.reaction:
        parts.append(allergy.reaction)
    if allergy.severity:
        parts.append(f"sévérité {allergy.get_severity_display().lower()}")
    return " — ".join(parts)


def _lifestyle_value(item: Lifestyle) -> str:
    quantity = f"{number(item.quantity)} {item.unit}".strip() if item.quantity is not None else ""
    return " ".join(part for part in (item.value, f"({quantity})" if quantity and item.value else quantity) if part)


def _lifestyle_text(item: Lifestyle) -> str:
    return f"{item.get_kind_display()} : {_lifestyle_value(item)}"


def _family_text(item: FamilyHistory) -> str:
    return f"{item.get_relation_display()} : {item.label}{_coded_suffix(item.cim10_code)}"


def _dose(treatment: LongTermTreatment) -> str:
    if treatment.dose_quantity is None:
        return ""
    return f"{number(treatment.dose_quantity)} {treatment.dose_unit}".strip()


def _posology(treatment: LongTermTreatment) -> str:
    return ", ".join(part for part in (_dose(treatment), treatment.frequency) if part)


def _route_label(treatment: LongTermTreatment) -> str:
    return EDQM_ROUTES.get(treatment.route_code, treatment.route_code)


def _treatment_text(treatment: LongTermTreatment) -> str:
    parts = [treatment.drug_label]
    if _posology(treatment):
        parts.append(_posology(treatment))
    if treatment.route_code:
        parts.append(_route_label(treatment))
    if treatment.reason_label or treatment.reason_cim10:
        parts.append("motif : " + (treatment.reason_label or treatment.reason_cim10))
    return " — ".join(parts)


def _alds_without_problem(summary: RecordSummary) -> list[Ald]:
    """ALDs not already shown as an active problem with one of their CIM-10 codes (no duplicate line)."""
    active_codes = {p.cim10_code for p in summary.active_problems if p.cim10_code}
    return [ald for ald in summary.alds if not (set(_ald_codes(ald)) & active_codes)]


def vsm_elements(summary: RecordSummary) -> list[VsmElement]:
    """Every element the VSM would carry, in document order, with the key `build_vsm(exclude=…)` understands."""
    elements: list[VsmElement] = []
    add = elements.append
    for problem in summary.active_problems:
        add(VsmElement(f"problem:{problem.pk}", S_ACTIVE, _problem_text(problem) + _since(problem.onset)))
    for ald in _alds_without_problem(summary):
        add(VsmElement(f"ald:{ald.pk}", S_ACTIVE, _ald_text(ald) + _since(ald.start)))
    for problem in summary.resolved_problems:
        add(VsmElement(f"problem:{problem.pk}", S_MEDICAL, _problem_text(problem)))
    for history in summary.medical_history:
        add(VsmElement(f"history:{history.pk}", S_MEDICAL, history.label + _coded_suffix(history.cim10_code)))
    for history in summary.surgical_history:
        when = f" — {french_date(history.date)}" if history.date else ""
        add(VsmElement(f"history:{history.pk}", S_SURGICAL, history.label + _coded_suffix(history.ccam_code) + when))
    for allergy in summary.allergies:
        add(VsmElement(f"allergy:{allergy.pk}", S_ALLERGIES, _allergy_text(allergy)))
    if summary.allergy_status == "none_known":
        add(VsmElement(KEY_NO_KNOWN_ALLERGY, S_ALLERGIES, "Aucune allergie connue"))
    for item in summary.lifestyle:
        add(VsmElement(f"lifestyle:{item.pk}", S_LIFESTYLE, _lifestyle_text(item)))
    for risk in summary.professional_risks:
        add(VsmElement(f"risk:{risk.pk}", S_PROFESSIONAL, risk.label))
    for family in summary.family_history:
        add(VsmElement(f"family:{family.pk}", S_FAMILY, _family_text(family)))
    for point in summary.vigilance_points:
        add(VsmElement(f"vigilance:{point.pk}", S_VIGILANCE, point.text))
    for treatment in summary.treatments:
        add(VsmElement(f"treatment:{treatment.pk}", S_TREATMENTS, _treatment_text(treatment)))
    return elements


def vsm_problems(*, summary: RecordSummary, practice: Practice | None, author: User | None) -> list[str]:
    """Mandatory data missing to build this patient's VSM, in plain French (nothing is built if any)."""
    return header_problems(practice=practice, author=author, patient=summary.patient)


# --- Builder ------------------------------------------------------------------------------------


class _Builder:
    """Builds the body of one VSM; holds the per-document context (ids, labels, exclusions)."""

    def __init__(
        self, summary: RecordSummary, *, id_root: str, exclude: frozenset[str], label_cache: LabelCache | None
    ) -> None:
        self.summary = summary
        self.id_root = id_root
        self.exclude = exclude
        self.labels = _concept_labels(summary, {} if label_cache is None else label_cache)

    # Helpers ---------------------------------------------------------------------------------

    def keep(self, key: str) -> bool:
        return key not in self.exclude

    def entry_id(self, *parts: object) -> Element:
        # Stable across versions of the VSM: the same record entry keeps the same id (lets a receiver reconcile).
        return E.id(root=stable_uuid(self.id_root, *parts))

    def section_id(self, name: str) -> Element:
        return E.id(root=stable_uuid(self.id_root, "section", name))

    def label(self, system: str, code: str) -> str | None:
        return self.labels.get((system, code)) or None

    def value_cd(self, system: str, code: str, anchor: str) -> Element:
        """`value xsi:type="CD"`: coded when a code is known, else only its originalText (PCC Problem Entry)."""
        if code:
            value = E.value(
                attrs(
                    code=code,
                    displayName=self.label(system, code),
                    codeSystem=system,
                    codeSystemName="CIM-10" if system == codes.CIM10 else None,
                ),
                original_text(anchor),
            )
        else:
            value = E.value(original_text(anchor))
        value.set(XSI_TYPE, "CD")
        return value

    def section(
        self,
        tids: Sequence[str],
        name: str,
        code: Code,
        title: str,
        *children: Element | None,
    ) -> Element:
        return E.component(
            E.section(
                *template_ids(tids),
                self.section_id(name),
                coded("code", code),
                E.title(title),
                *[child for child in children if child is not None],
            )
        )

    # FR-Liste-des-problemes / FR-Probleme ---------------------------------------------------

    def problem_entry(
        self,
        key: str,
        anchor: str,
        cim10: Sequence[str],
        *,
        low: dt.date | None,
        high: dt.date | None,
        active: bool,
        problem_code: Code = codes.PROBLEM_DIAGNOSIS,
        value: Element | None = None,
    ) -> Element:
        """A concern act around the problem observation(s) (IHE PCC Problem Concern + CI-SIS FR-Probleme).

        FR-Probleme carries exactly one `value`: a problem with several CIM-10 codes (an ALD) gives one
        observation per code in the same concern. A resolved problem / antécédent is a `completed` concern,
        whose effectiveTime then needs a `high` (E_concernEntry_int); an active one has no `high`.
        """
        low_ts = ts_date(low) if low else None
        high_ts = ts_date(high) if high else None
        concern_time = ivl_ts(low_ts) if active else ivl_ts(low_ts, high_ts, high_null="UNK")
        values = [value] if value is not None else [self.value_cd(codes.CIM10, code, anchor) for code in cim10 or [""]]
        relationships = [
            E.entryRelationship(
                E.observation(
                    *template_ids(codes.T_PROBLEM),
                    self.entry_id(key, index) if index else self.entry_id(key),
                    coded("code", problem_code),
                    E.text(reference(anchor)),
                    E.statusCode(code="completed"),
                    ivl_ts(low_ts, high_ts),
                    one_value,
                    classCode="OBS",
                    moodCode="EVN",
                    negationInd="false",
                ),
                typeCode="SUBJ",
                inversionInd="false",
            )
            for index, one_value in enumerate(values)
        ]
        return E.entry(
            E.act(
                *template_ids(codes.T_PROBLEM_CONCERN),
                self.entry_id(key, "concern"),
                E.code(nullFlavor="NA"),
                E.statusCode(code="active" if active else "completed"),
                concern_time,
                *relationships,
                classCode="ACT",
                moodCode="EVN",
            )
        )

    def no_problem_info(self, key: str, anchor: str) -> Element:
        """[Catalog] "Pas d'information sur les problèmes": an unknown list, not an empty one."""
        value = coded("value", codes.NO_PROBLEM_INFO, original_text(anchor), xsi_type="CD")
        return self.problem_entry(
            key, anchor, (), low=None, high=None, active=False, problem_code=codes.PROBLEM_GENERIC, value=value
        )

    # Sections -------------------------------------------------------------------------------------

    def active_problems(self) -> Element:
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for problem in self.summary.active_problems:
            key = f"problem:{problem.pk}"
            if not self.keep(key):
                continue
            anchor = _anchor(key)
            rows.append((french_date(problem.onset), content(problem.label, anchor), problem.cim10_code))
            entries.append(
                self.problem_entry(key, anchor, _codes(problem.cim10_code), low=problem.onset, high=None, active=True)
            )
        for ald in _alds_without_problem(self.summary):
            key = f"ald:{ald.pk}"
            if not self.keep(key):
                continue
            anchor = _anchor(key)
            ald_codes = _ald_codes(ald)
            rows.append((french_date(ald.start), content(_ald_text(ald), anchor), " ".join(ald_codes)))
            entries.append(self.problem_entry(key, anchor, ald_codes, low=ald.start, high=None, active=True))
        if rows:
            text = text_block(table(("Depuis le", "Pathologie en cours", "CIM-10"), rows))
        else:
            anchor = "active-problems-none"
            text = text_block(paragraph(content("Aucune pathologie en cours renseignée.", anchor)))
            entries = [self.no_problem_info("active-problems-none", anchor)]
        return self.section(codes.T_SEC_ACTIVE_PROBLEMS, "active", codes.SEC_ACTIVE_PROBLEMS, S_ACTIVE, text, *entries)

    def medical_history(self) -> Element:
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for problem in self.summary.resolved_problems:
            key = f"problem:{problem.pk}"
            if not self.keep(key):
                continue
            anchor = _anchor(key)
            rows.append(
                (
                    french_date(problem.onset),
                    french_date(problem.resolved_on),
                    content(problem.label, anchor),
                    problem.cim10_code,
                )
            )
            entries.append(
                self.problem_entry(
                    key, anchor, _codes(problem.cim10_code), low=problem.onset, high=problem.resolved_on, active=False
                )
            )
        for history in self.summary.medical_history:
            key = f"history:{history.pk}"
            if not self.keep(key):
                continue
            anchor = _anchor(key)
            rows.append((french_date(history.date), "", content(history.label, anchor), history.cim10_code))
            entries.append(
                self.problem_entry(
                    key, anchor, _codes(history.cim10_code), low=history.date, high=history.date, active=False
                )
            )
        if rows:
            text = text_block(table(("Début", "Fin", "Antécédent médical", "CIM-10"), rows))
        else:
            anchor = "medical-history-none"
            text = text_block(paragraph(content("Aucun antécédent médical renseigné.", anchor)))
            entries = [self.no_problem_info("medical-history-none", anchor)]
        return self.section(
            codes.T_SEC_MEDICAL_HISTORY, "medical", codes.SEC_MEDICAL_HISTORY, S_MEDICAL, text, *entries
        )

    def surgical_history(self) -> Element:
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for history in self.summary.surgical_history:
            key = f"history:{history.pk}"
            if not self.keep(key):
                continue
            anchor = _anchor(key)
            rows.append((french_date(history.date), content(history.label, anchor), history.ccam_code))
            if history.ccam_code:
                act_code = E.code(
                    attrs(
                        code=history.ccam_code,
                        displayName=self.label(codes.CCAM, history.ccam_code),
                        codeSystem=codes.CCAM,
                        codeSystemName="CCAM",
                    ),
                    original_text(anchor),
                )
            else:
                act_code = E.code(original_text(anchor), nullFlavor="UNK")
            entries.append(
                self.procedure(
                    key,
                    act_code,
                    anchor,
                    E.effectiveTime(value=ts_date(history.date)) if history.date else E.effectiveTime(nullFlavor="UNK"),
                )
            )
        if rows:
            text = text_block(table(("Date", "Antécédent chirurgical", "CCAM"), rows))
        else:
            anchor = "surgical-history-none"
            text = text_block(paragraph(content("Aucun antécédent chirurgical renseigné.", anchor)))
            no_info = coded("code", codes.NO_PROCEDURE_INFO, original_text(anchor))
            entries = [self.procedure("surgical-history-none", no_info, anchor, E.effectiveTime(nullFlavor="NA"))]
        return self.section(
            codes.T_SEC_SURGICAL_HISTORY, "surgical", codes.SEC_SURGICAL_HISTORY, S_SURGICAL, text, *entries
        )

    def procedure(self, key: str, act_code: Element, anchor: str, time: Element) -> Element:
        """FR-Acte (IHE PCC Procedure Entry, CCD procedure activity), act performed (moodCode EVN)."""
        return E.entry(
            E.procedure(
                *template_ids(codes.T_PROCEDURE),
                self.entry_id(key),
                act_code,
                E.text(reference(anchor)),
                E.statusCode(code="completed"),
                time,
                classCode="PROC",
                moodCode="EVN",
            )
        )

    def allergies(self) -> Element:
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for allergy in self.summary.allergies:
            key = f"allergy:{allergy.pk}"
            if not self.keep(key):
                continue
            anchor = _anchor(key)
            reaction = content(allergy.reaction, anchor + "-reaction") if allergy.reaction else None
            severity = (
                content(allergy.get_severity_display(), anchor + "-severity")
                if allergy.severity in codes.SEVERITY_VALUES
                else None
            )
            rows.append(
                (
                    french_date(allergy.onset),
                    content(_allergy_kind(allergy), anchor),
                    content(allergy.agent_label, anchor + "-agent"),
                    reaction,
                    severity,
                )
            )
            entries.append(self.allergy_entry(allergy, key, anchor))
        if rows:
            text = text_block(table(("Date", "Type", "Agent", "Réaction", "Sévérité"), rows))
        elif self.summary.allergy_status == "none_known" and self.keep(KEY_NO_KNOWN_ALLERGY):
            anchor = _anchor(KEY_NO_KNOWN_ALLERGY)
            text = text_block(paragraph(content("Aucune allergie connue.", anchor)))
            entries = [self.allergy_absent(KEY_NO_KNOWN_ALLERGY, anchor, codes.NO_KNOWN_ALLERGIES)]
        else:
            anchor = "allergies-unknown"
            text = text_block(paragraph(content("Allergies non renseignées.", anchor)))
            entries = [self.allergy_absent("allergies-unknown", anchor, codes.NO_ALLERGY_INFO)]
        return self.section(codes.T_SEC_ALLERGIES, "allergies", codes.SEC_ALLERGIES, S_ALLERGIES, text, *entries)

    def allergy_concern(self, key: str, observation: Element, low: str | None, *, active: bool) -> Element:
        concern_time = ivl_ts(low) if active else E.effectiveTime(E.low(nullFlavor="NA"), E.high(nullFlavor="NA"))
        return E.entry(
            E.act(
                *template_ids(codes.T_ALLERGY_CONCERN),
                self.entry_id(key, "concern"),
                E.code(nullFlavor="NA"),
                E.statusCode(code="active" if active else "completed"),
                concern_time,
                E.entryRelationship(observation, typeCode="SUBJ", inversionInd="false"),
                classCode="ACT",
                moodCode="EVN",
            )
        )

    def allergy_entry(self, allergy: Allergy, key: str, anchor: str) -> Element:
        """FR-Allergie-ou-hypersensibilite: SNOMED type, agent (participant CSM, CIS for a drug), status."""
        low = ts_date(allergy.onset) if allergy.onset else None
        value = E.value(original_text(anchor + "-reaction" if allergy.reaction else anchor))
        value.set(XSI_TYPE, "CD")
        if allergy.agent_kind == Allergy.AgentKind.DRUG and allergy.agent_code:
            agent_code = E.code(
                attrs(
                    code=allergy.agent_code,
                    displayName=self.label(codes.CIS, allergy.agent_code) or allergy.agent_label,
                    codeSystem=codes.CIS,
                    codeSystemName="CIS",
                ),
                original_text(anchor + "-agent"),
            )
        else:
            agent_code = E.code(original_text(anchor + "-agent"), nullFlavor="UNK")
        children: list[Element] = [
            *template_ids(codes.T_ALLERGY),
            self.entry_id(key),
            coded("code", _allergy_code(allergy)),
            E.text(reference(anchor)),
            E.statusCode(code="completed"),
            ivl_ts(low),
            value,
            E.participant(
                E.participantRole(
                    E.playingEntity(agent_code, E.name(allergy.agent_label), classCode="MMAT"), classCode="MANU"
                ),
                typeCode="CSM",
            ),
        ]
        severity = codes.SEVERITY_VALUES.get(allergy.severity)
        if severity is not None:
            children.append(
                E.entryRelationship(
                    E.observation(
                        *template_ids(codes.T_SEVERITY),
                        coded("code", codes.SEVERITY),
                        E.text(reference(anchor + "-severity")),
                        E.statusCode(code="completed"),
                        coded("value", severity, xsi_type="CD"),
                        classCode="OBS",
                        moodCode="EVN",
                    ),
                    typeCode="SUBJ",
                    inversionInd="true",
                )
            )
        children.append(
            E.entryRelationship(
                E.observation(
                    *template_ids(codes.T_PROBLEM_STATUS),
                    coded("code", codes.PROBLEM_STATUS),
                    E.text(reference(anchor)),
                    E.statusCode(code="completed"),
                    coded("value", codes.ALLERGY_ACTIVE, xsi_type="CE"),
                    classCode="OBS",
                    moodCode="EVN",
                ),
                typeCode="REFR",
                inversionInd="false",
            )
        )
        observation = E.observation(*children, classCode="OBS", moodCode="EVN", negationInd="false")
        return self.allergy_concern(key, observation, low, active=True)

    def allergy_absent(self, key: str, anchor: str, value_code: Code) -> Element:
        """[Catalog] no-known-allergies / no-allergy-info pattern (FR-Allergie with an IPS absent/unknown value)."""
        observation = E.observation(
            *template_ids(codes.T_ALLERGY),
            self.entry_id(key),
            coded("code", codes.ALLERGY_SUBSTANCE),
            E.text(reference(anchor)),
            E.statusCode(code="completed"),
            ivl_ts(None),
            coded("value", value_code, original_text(anchor), xsi_type="CD"),
            classCode="OBS",
            moodCode="EVN",
            negationInd="false",
        )
        return self.allergy_concern(key, observation, None, active=False)

    def lifestyle(self) -> Element | None:
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for item in self.summary.lifestyle:
            key = f"lifestyle:{item.pk}"
            if not self.keep(key):
                continue
            anchor = _anchor(key)
            rows.append((content(item.get_kind_display(), anchor), _lifestyle_value(item)))
            if item.quantity is not None and item.unit:
                value = E.value(value=number(item.quantity), unit=item.unit)
                value.set(XSI_TYPE, "PQ")
            else:
                value = E.value(_lifestyle_value(item) or item.get_kind_display())
                value.set(XSI_TYPE, "ST")
            entries.append(
                E.entry(
                    E.observation(
                        *template_ids(codes.T_SOCIAL_HISTORY_OBS),
                        self.entry_id(key),
                        E.code(
                            code=item.kind,
                            displayName=codes.SOCIAL_HISTORY.get(item.kind, item.get_kind_display()),
                            codeSystem=codes.LOINC,
                            codeSystemName="LOINC",
                        ),
                        E.text(reference(anchor)),
                        E.statusCode(code="completed"),
                        E.effectiveTime(nullFlavor="NA"),
                        value,
                        classCode="OBS",
                        moodCode="EVN",
                    )
                )
            )
        if not rows:
            return None
        text = text_block(table(("Type", "Observation"), rows))
        return self.section(
            codes.T_SEC_SOCIAL_HISTORY, "lifestyle", codes.SEC_SOCIAL_HISTORY, S_LIFESTYLE, text, *entries
        )

    def professional_risks(self) -> Element:
        risks = [r for r in self.summary.professional_risks if self.keep(f"risk:{r.pk}")]
        if risks:
            text = text_block(table((), [(content(r.label, _anchor(f"risk:{r.pk}")),) for r in risks]))
        else:
            text = text_block(paragraph("Aucun facteur de risque professionnel renseigné."))
        return self.section(
            codes.T_SEC_PROFESSIONAL_RISKS, "professional", codes.SEC_PROFESSIONAL_RISKS, S_PROFESSIONAL, text
        )

    def family_history(self) -> Element | None:
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for item in self.summary.family_history:
            key = f"family:{item.pk}"
            if not self.keep(key):
                continue
            anchor = _anchor(key)
            rows.append(
                (
                    content(item.get_relation_display(), anchor + "-relation"),
                    content(item.label, anchor),
                    item.cim10_code,
                )
            )
            relation = E.code(
                code=item.relation,
                displayName=codes.FAMILY_RELATIONS.get(item.relation, item.get_relation_display()),
                codeSystem=codes.HL7_ROLE_CODE,
                codeSystemName="RoleCode",
            )
            relation.append(original_text(anchor + "-relation"))
            observation = E.observation(
                *template_ids(codes.T_FAMILY_OBSERVATION),
                self.entry_id(key),
                coded("code", codes.PROBLEM_DIAGNOSIS),
                E.text(reference(anchor)),
                E.statusCode(code="completed"),
                E.effectiveTime(nullFlavor="UNK"),
                self.value_cd(codes.CIM10, item.cim10_code, anchor),
                classCode="OBS",
                moodCode="EVN",
            )
            entries.append(
                E.entry(
                    E.organizer(
                        *template_ids(codes.T_FAMILY_ORGANIZER),
                        E.statusCode(code="completed"),
                        E.subject(
                            *template_ids(codes.T_FAMILY_SUBJECT),
                            E.relatedSubject(relation, classCode="PRS"),
                            typeCode="SBJ",
                        ),
                        E.component(observation, typeCode="COMP"),
                        classCode="CLUSTER",
                        moodCode="EVN",
                    )
                )
            )
        if not rows:
            return None
        text = text_block(table(("Lien de parenté", "Antécédent", "CIM-10"), rows))
        return self.section(codes.T_SEC_FAMILY_HISTORY, "family", codes.SEC_FAMILY_HISTORY, S_FAMILY, text, *entries)

    def risk_factors(self) -> Element:
        """FR-Facteurs-de-risque (.2.31). Rule S_facteursDeRisque_ANS: with fewer than three sub-sections the
        section text carries what the absent ones would say; with all three it has no text."""
        lifestyle, professional, family = self.lifestyle(), self.professional_risks(), self.family_history()
        missing = []
        if lifestyle is None:
            missing.append(f"{S_LIFESTYLE} : non renseigné.")
        if family is None:
            missing.append(f"{S_FAMILY} : non renseignés.")
        text = text_block(*[paragraph(line) for line in missing]) if missing else None
        return self.section(
            codes.T_SEC_RISK_FACTORS,
            "risk-factors",
            codes.SEC_RISK_FACTORS,
            "Facteurs de risque",
            text,
            lifestyle,
            professional,
            family,
        )

    def vigilance(self) -> Element:
        points = [p for p in self.summary.vigilance_points if self.keep(f"vigilance:{p.pk}")]
        if points:
            text = text_block(table((), [(content(p.text, _anchor(f"vigilance:{p.pk}")),) for p in points]))
        else:
            text = text_block(paragraph("Aucun point de vigilance renseigné."))
        # The IHE Results section is uncoded here (S_results: no entry without the coded-results templateId).
        return self.section(codes.T_SEC_VIGILANCE, "vigilance", codes.SEC_VIGILANCE, S_VIGILANCE, text)

    def treatments(self) -> Element:
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for treatment in self.summary.treatments:
            key = f"treatment:{treatment.pk}"
            if not self.keep(key):
                continue
            anchor = _anchor(key)
            reason = treatment.reason_label or treatment.reason_cim10
            rows.append(
                (
                    french_date(treatment.start),
                    french_date(treatment.end),
                    content(treatment.drug_label, anchor),
                    _posology(treatment),
                    content(_route_label(treatment), anchor + "-route") if treatment.route_code else None,
                    content(reason, anchor + "-reason") if reason else None,
                )
            )
            entries.append(self.treatment_entry(treatment, key, anchor))
        if rows:
            text = text_block(
                table(("Début", "Fin", "Médicament", "Posologie", "Voie d'administration", "Motif"), rows)
            )
        else:
            anchor = "treatments-unknown"
            text = text_block(paragraph(content("Aucun traitement au long cours renseigné.", anchor)))
            entries = [self.no_medication_info(anchor)]
        medications = E.component(
            E.section(
                *template_ids(codes.T_SEC_MEDICATIONS),
                self.section_id("medications"),
                coded("code", codes.SEC_MEDICATIONS),
                E.title("Traitements"),
                text,
                *entries,
            )
        )
        # S_planTraitement_ANS: no text of its own when the Traitements sub-section is present.
        return self.section(
            codes.T_SEC_TREATMENT_PLAN, "treatment-plan", codes.SEC_TREATMENT_PLAN, S_TREATMENTS, medications
        )

    def treatment_entry(self, treatment: LongTermTreatment, key: str, anchor: str) -> Element:
        """FR-Traitement (normal dosing) with FR-Produit-de-sante: CIS code (ATC as translation), EDQM route,
        UCUM dose (low = high), reason as FR-Reference-interne (CIM-10)."""
        children: list[Element] = [
            *template_ids(codes.T_MEDICATION),
            self.entry_id(key),
            coded("code", codes.DRUG),
            E.text(reference(anchor)),
            E.statusCode(code="completed"),
            # PCC Medications: the first effectiveTime is an IVL_TS with both low and high.
            ivl_ts(
                ts_date(treatment.start) if treatment.start else None,
                ts_date(treatment.end) if treatment.end else None,
                high_null="UNK",
                **{XSI_TYPE: "IVL_TS"},
            ),
        ]
        if treatment.route_code:
            children.append(
                E.routeCode(
                    attrs(
                        code=treatment.route_code,
                        displayName=_route_label(treatment),
                        codeSystem=codes.EDQM,
                        codeSystemName="EDQM",
                    ),
                    original_text(anchor + "-route"),
                )
            )
        if treatment.dose_quantity is not None:
            unit = treatment.dose_unit or "1"
            dose = number(treatment.dose_quantity)
            children.append(E.doseQuantity(E.low(value=dose, unit=unit), E.high(value=dose, unit=unit)))
        translation = (
            [
                E.translation(
                    attrs(
                        code=treatment.atc_code,
                        displayName=self.label(codes.ATC, treatment.atc_code),
                        codeSystem=codes.ATC,
                        codeSystemName="ATC",
                    )
                )
            ]
            if treatment.atc_code
            else []
        )
        if treatment.cis_code:
            product_code = E.code(
                attrs(
                    code=treatment.cis_code,
                    displayName=self.label(codes.CIS, treatment.cis_code) or treatment.drug_label,
                    codeSystem=codes.CIS,
                    codeSystemName="CIS",
                ),
                original_text(anchor),
                *translation,
            )
        else:
            product_code = E.code(original_text(anchor), *translation, nullFlavor="UNK")
        children.append(
            E.consumable(
                E.manufacturedProduct(
                    *template_ids(codes.T_PRODUCT),
                    E.manufacturedMaterial(product_code, E.name(treatment.drug_label)),
                )
            )
        )
        reason = treatment.reason_label or treatment.reason_cim10
        if reason:
            if treatment.reason_cim10:
                reason_code = E.code(
                    attrs(
                        code=treatment.reason_cim10,
                        displayName=self.label(codes.CIM10, treatment.reason_cim10),
                        codeSystem=codes.CIM10,
                        codeSystemName="CIM-10",
                    ),
                    original_text(anchor + "-reason"),
                )
            else:
                # FR-Reference-interne: an uncoded referenced element gives code nullFlavor NA.
                reason_code = E.code(original_text(anchor + "-reason"), nullFlavor="NA")
            children.append(
                E.entryRelationship(
                    E.act(
                        *template_ids(codes.T_INTERNAL_REFERENCE),
                        self.entry_id(key, "reason"),
                        reason_code,
                        classCode="ACT",
                        moodCode="EVN",
                    ),
                    typeCode="RSON",
                )
            )
        return E.entry(E.substanceAdministration(*children, classCode="SBADM", moodCode="EVN"), typeCode="DRIV")

    def no_medication_info(self, anchor: str) -> Element:
        """[Catalog] "Pas d'information sur les traitements" (FR-Traitement with nullFlavor UNK)."""
        return E.entry(
            E.substanceAdministration(
                *template_ids(codes.T_MEDICATION),
                self.entry_id("treatments-unknown"),
                coded("code", codes.NO_MEDICATION_INFO, original_text(anchor)),
                E.text(reference(anchor)),
                E.statusCode(code="completed"),
                E.effectiveTime(E.low(nullFlavor="NA"), E.high(nullFlavor="NA"), **{XSI_TYPE: "IVL_TS"}),
                E.consumable(
                    E.manufacturedProduct(
                        *template_ids(codes.T_PRODUCT),
                        E.manufacturedMaterial(E.code(nullFlavor="NA"), E.name(nullFlavor="NA"), nullFlavor="UNK"),
                        nullFlavor="UNK",
                    )
                ),
                classCode="SBADM",
                moodCode="EVN",
                nullFlavor="UNK",
            ),
            typeCode="DRIV",
        )

    def body(self) -> Element:
        problems_allergies = self.section(
            codes.T_SEC_PROBLEMS_HISTORY_ALLERGIES,
            "problems-history-allergies",
            codes.SEC_PROBLEMS_HISTORY_ALLERGIES,
            "Pathologies en cours, antécédents et allergies",
            # All four sub-sections are present: S_pathologieAntecedentsAllergies_ANS forbids a text then.
            self.active_problems(),
            self.medical_history(),
            self.surgical_history(),
            self.allergies(),
        )
        synthesis = self.section(
            codes.T_SEC_PROBLEMS_HISTORY_ALLERGIES_RISKS,
            "synthesis",
            codes.SEC_PROBLEMS_HISTORY_ALLERGIES_RISKS,
            "Pathologies en cours, antécédents, allergies et facteurs de risque",
            problems_allergies,
            self.risk_factors(),
        )
        return E.component(E.structuredBody(synthesis, self.vigilance(), self.treatments()))


def _codes(code: str) -> list[str]:
    return [code] if code else []


def _anchor(key: str) -> str:
    """Narrative ID of an element key ("allergy:3" → "allergy-3"): an XML NCName, unique in the document."""
    return key.replace(":", "-")


def _allergy_code(allergy: Allergy) -> Code:
    # JDV_TypeEvenementIndesirablePrevisible_CISIS (1.2.250.1.213.1.1.5.794).
    if allergy.agent_kind == Allergy.AgentKind.DRUG:
        return codes.INTOLERANCE_DRUG if allergy.is_intolerance else codes.ALLERGY_DRUG
    return codes.INTOLERANCE_SUBSTANCE if allergy.is_intolerance else codes.ALLERGY_SUBSTANCE


def _concept_labels(summary: RecordSummary, cache: LabelCache) -> LabelCache:
    """Official labels (displayName) of every code the VSM carries: one query for the codes not in `cache`.

    The bulk command shares one cache across patients (the same few hundred codes come back again and again);
    a code without label is cached as "" so it is not asked again.
    """
    wanted: dict[str, set[str]] = {codes.CIM10: set(), codes.CCAM: set(), codes.CIS: set(), codes.ATC: set()}
    cim10 = wanted[codes.CIM10]
    cim10.update(p.cim10_code for p in (*summary.active_problems, *summary.resolved_problems))
    cim10.update(h.cim10_code for h in summary.medical_history)
    cim10.update(f.cim10_code for f in summary.family_history)
    cim10.update(t.reason_cim10 for t in summary.treatments)
    for ald in summary.alds:
        cim10.update(_ald_codes(ald))
    wanted[codes.CCAM].update(h.ccam_code for h in summary.surgical_history)
    wanted[codes.CIS].update(t.cis_code for t in summary.treatments)
    wanted[codes.CIS].update(a.agent_code for a in summary.allergies if a.agent_kind == Allergy.AgentKind.DRUG)
    wanted[codes.ATC].update(t.atc_code for t in summary.treatments)
    query = Q()
    missing: list[tuple[str, str]] = []
    for system, values in wanted.items():
        new = {code for code in values if code and (system, code) not in cache}
        if new:
            query |= Q(system=system, code__in=new)
            missing += [(system, code) for code in new]
    if missing:
        for key in missing:
            cache[key] = ""
        cache.update(
            ((system, code), label)
            for system, code, label in Concept.objects.filter(query).values_list("system", "code", "label")
        )
    return cache


def build_vsm(
    *,
    summary: RecordSummary,
    ids: DocumentIdsLike,
    practice: Practice,
    author: User,
    effective_time: dt.datetime,
    exclude: Iterable[str] = (),
    confidentiality: str = "N",
    replaces: DocumentIdsLike | None = None,
    label_cache: LabelCache | None = None,
) -> bytes:
    """The VSM 1.4 of `summary.patient` (UTF-8 XML bytes), minus the `exclude`d element keys.

    `label_cache`: a dict shared across calls (bulk generation) to read each code's official label only once.

    Raises MissingDataError (plain French list) when mandatory data is missing: nothing is built then.
    """
    patient = summary.patient
    problems = vsm_problems(summary=summary, practice=practice, author=author)
    if problems:
        raise MissingDataError(problems)
    is_pcp = patient.medecin_traitant_id is not None and patient.medecin_traitant_id == author.pk
    doc = build_header(
        HeaderInput(
            ids=ids,
            practice=practice,
            author=author,
            patient=patient,
            effective_time=effective_time,
            type_code=codes.DOC_SYNTH,
            title=TITLE,
            template_ids=((codes.TPL_VSM, codes.TPL_VSM_EXT),),
            confidentiality=confidentiality,
            replaces=replaces,
            service_event_code=codes.SERVICE_EVENT_HISTORY,
            participants=(pcp_participant(patient, practice),),
            author_function=codes.AUTHOR_FUNCTION_PCP if is_pcp else None,
        )
    )
    # Entry ids derive from the practice, the patient and the record entry: stable across successive VSMs.
    id_root = f"{practice_oid_root(practice)}/{patient.pk}"
    builder = _Builder(summary, id_root=id_root, exclude=frozenset(exclude), label_cache=label_cache)
    doc.append(builder.body())
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
