"""Sections and entries shared by the two CI-SIS medical summaries built from the record: VSM 1.4 (vsm.py) and
IPS-FR 2024.01 "Synthèse médicale" (ips.py).

Both carry the same IHE PCC / CI-SIS sections — problèmes actifs (FR-Problemes-actifs), antécédents médicaux,
historique des actes (FR-Antecedents-chirurgicaux), allergies (FR-Allergies-et-hypersensibilites), traitements
(FR-Traitements), habitus, facteurs de risque professionnels, antécédents familiaux — with the same coded entries
(FR-Liste-des-problemes / FR-Probleme, FR-Acte, FR-Allergie-ou-hypersensibilite, FR-Traitement /
FR-Produit-de-sante, FR-Habitus-Mode-de-vie, FR-Antecedents-familiaux), checked by the generic profiles
`CI-SIS_ModelesDeContenusCDA.sch` and `CI-SIS_Modeles_ANS.sch`. Only the way the sections are arranged differs
(VSM: nested under 1.2.250.1.213.1.1.2.29 / .2.31 / .2.32; IPS-FR: flat), and that stays in each model's module.

"Nothing recorded" is never turned into "nothing to report": an empty coded list is written with the CI-SIS
"absent or unknown" codes (`examples/01_Modèles_contenus_CDA.xml`, JDV_AbsentOrUnknown*_CISIS): `no-problem-info`,
`no-procedure-info`, `no-medication-info`, and for allergies `no-allergy-info` (not documented) versus
`no-known-allergies` (the professional asserted "aucune allergie connue", record.AllergyStatement).

The doctor can untick elements in the validation panel: `summary_elements` lists them with stable keys
("problem:12", "allergy:3", "allergy:none"…) and every builder drops each excluded key from both the narrative
and the entries. The keys are the same for both models (IPS-FR adds "vital:<pk>" for its vital signs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db.models import Model, Q
from django.utils import timezone

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
    clean_maker,
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
from caducee.record.dose_units import dose_unit_code
from caducee.record.models import (
    Allergy,
    Concept,
    FamilyHistory,
    Lifestyle,
    LongTermTreatment,
    Problem,
    Vital,
)
from caducee.record.selectors import RecordSummary
from caducee.record.templatetags.record_tags import dose, ucum

# IHE Pharmacy extension elements (namespace urn:ihe:pharm:medication, prefix "pharm" as in the IPS-FR example).
P = clean_maker(namespace=codes.NS_PHARM, nsmap={"pharm": codes.NS_PHARM})

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
S_VITALS = "Signes vitaux"  # IPS-FR only (VSM 1.4 has no vital signs section)

KEY_NO_KNOWN_ALLERGY = "allergy:none"

# (code system OID, code) → official label ("" when the terminology has none).
LabelCache = dict[tuple[str, str], str]

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class SummaryElement:
    """One line of the summary the doctor may untick: a stable key, its section and its text."""

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
    return dose(treatment.dose_quantity, treatment.dose_unit)  # « 2 comprimés », « 2,5 mg » (issue 13 §2)


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


def _vital_text(vital: Vital) -> str:
    when = timezone.localtime(vital.measured_at).date() if timezone.is_aware(vital.measured_at) else vital.measured_at
    return f"{vital.get_kind_display()} : {number(vital.value)} {ucum(vital.unit)} — le {french_date(when)}"


def summary_elements(summary: RecordSummary, *, vitals: bool = False) -> list[SummaryElement]:
    """Every element the summary would carry, with the key `build_vsm(exclude=…)` / `build_ips(exclude=…)`
    understands. `vitals`: also the last vital signs (IPS-FR carries them, VSM 1.4 does not)."""
    elements: list[SummaryElement] = []
    add = elements.append
    for problem in summary.active_problems:
        add(SummaryElement(f"problem:{problem.pk}", S_ACTIVE, _problem_text(problem) + _since(problem.onset)))
    for ald in _alds_without_problem(summary):
        add(SummaryElement(f"ald:{ald.pk}", S_ACTIVE, _ald_text(ald) + _since(ald.start)))
    for problem in summary.resolved_problems:
        add(SummaryElement(f"problem:{problem.pk}", S_MEDICAL, _problem_text(problem)))
    for history in summary.medical_history:
        add(SummaryElement(f"history:{history.pk}", S_MEDICAL, history.label + _coded_suffix(history.cim10_code)))
    for history in summary.surgical_history:
        when = f" — {french_date(history.date)}" if history.date else ""
        text = history.label + _coded_suffix(history.ccam_code) + when
        add(SummaryElement(f"history:{history.pk}", S_SURGICAL, text))
    for allergy in summary.allergies:
        add(SummaryElement(f"allergy:{allergy.pk}", S_ALLERGIES, _allergy_text(allergy)))
    if summary.allergy_status == "none_known":
        add(SummaryElement(KEY_NO_KNOWN_ALLERGY, S_ALLERGIES, "Aucune allergie connue"))
    for item in summary.lifestyle:
        add(SummaryElement(f"lifestyle:{item.pk}", S_LIFESTYLE, _lifestyle_text(item)))
    for risk in summary.professional_risks:
        add(SummaryElement(f"risk:{risk.pk}", S_PROFESSIONAL, risk.label))
    for family in summary.family_history:
        add(SummaryElement(f"family:{family.pk}", S_FAMILY, _family_text(family)))
    for point in summary.vigilance_points:
        add(SummaryElement(f"vigilance:{point.pk}", S_VIGILANCE, point.text))
    for treatment in summary.treatments:
        add(SummaryElement(f"treatment:{treatment.pk}", S_TREATMENTS, _treatment_text(treatment)))
    if vitals:
        for vital in summary.last_vitals:
            add(SummaryElement(f"vital:{vital.pk}", S_VITALS, _vital_text(vital)))
    return elements


# --- Section and entry builders -------------------------------------------------------------------


class SectionBuilder:
    """Builds the sections of one summary document; holds the per-document context (ids, labels, exclusions).

    Subclassed per model (vsm._VsmBuilder, ips._IpsBuilder), which arrange the sections into a body and set the
    class attributes below where the models differ; `document` builds the whole document.
    """

    # Header: J07 type code, title, document templateIds (root, extension) and serviceEvent code of the model.
    type_code: Code
    document_title: str
    document_templates: tuple[tuple[str, str | None], ...]
    service_event_code: Code | None = None

    # FR-Traitement templateIds of the model's treatments.
    medication_templates: tuple[str, ...] = codes.T_MEDICATION
    # Where the ATC class of a drug goes: VSM 1.4 writes it as a `translation` of the CIS code (VSM example);
    # IPS-FR in `pharm:asSpecializedKind/pharm:generalizedMedicineClass/pharm:code` (IPS-FR example).
    atc_in_generalized_class: bool = False

    def __init__(
        self, summary: RecordSummary, *, id_root: str, exclude: frozenset[str], label_cache: LabelCache | None
    ) -> None:
        self.summary = summary
        self.id_root = id_root
        self.exclude = exclude
        self.labels = concept_labels(summary, {} if label_cache is None else label_cache)

    @classmethod
    def document(
        cls,
        *,
        summary: RecordSummary,
        ids: DocumentIdsLike,
        practice: Practice,
        author: User,
        effective_time: dt.datetime,
        exclude: Iterable[str],
        confidentiality: str,
        replaces: DocumentIdsLike | None,
        label_cache: LabelCache | None,
    ) -> Element:
        """Header and body of `summary.patient`'s document, minus the `exclude`d element keys.

        Raises MissingDataError (plain French list) when mandatory data is missing: nothing is built then.
        """
        patient = summary.patient
        problems = header_problems(practice=practice, author=author, patient=patient)
        if problems:
            raise MissingDataError(problems)
        # Entry ids derive from the practice, the patient and the record entry: stable across successive versions.
        id_root = f"{practice_oid_root(practice)}/{patient.pk}"
        builder = cls(summary, id_root=id_root, exclude=frozenset(exclude), label_cache=label_cache)
        is_pcp = patient.medecin_traitant_id is not None and patient.medecin_traitant_id == author.pk
        doc = build_header(
            HeaderInput(
                ids=ids,
                practice=practice,
                author=author,
                patient=patient,
                effective_time=effective_time,
                type_code=cls.type_code,
                title=cls.document_title,
                template_ids=cls.document_templates,
                confidentiality=confidentiality,
                replaces=replaces,
                service_event_code=cls.service_event_code,
                participants=builder.participants(practice),
                author_function=codes.AUTHOR_FUNCTION_PCP if is_pcp else None,
            )
        )
        doc.append(builder.body())
        return doc

    def body(self) -> Element:
        """The `component/structuredBody` of the model."""
        raise NotImplementedError

    def participants(self, practice: Practice) -> tuple[Element, ...]:
        """Header participants: the médecin traitant (INF/PCP)."""
        return (pcp_participant(self.summary.patient, practice),)

    # Helpers ---------------------------------------------------------------------------------

    def keep(self, key: str) -> bool:
        return key not in self.exclude

    def entry_id(self, *parts: object) -> Element:
        # Stable across versions of the document: the same record entry keeps the same id (lets a receiver reconcile).
        return E.id(root=stable_uuid(self.id_root, *parts))

    def section_id(self, name: str) -> Element:
        return E.id(root=stable_uuid(self.id_root, "section", name))

    def label(self, system: str, code: str) -> str | None:
        return self.labels.get((system, code)) or None

    def kept(self, prefix: str, items: Iterable[M]) -> Iterator[tuple[M, str, str]]:
        """(item, key "prefix:pk", narrative anchor) of each item the doctor did not untick."""
        for item in items:
            key = f"{prefix}:{item.pk}"
            if self.keep(key):
                yield item, key, narrative_id(key)

    def local_code(
        self,
        system: str,
        system_name: str | None,
        code: str,
        anchor: str | None,
        *children: Element,
        tag: str = "code",
        display: str | None = None,
        null: str | None = "UNK",
    ) -> Element:
        """A code of a record entry: when known, coded with its official label (else `display`) and the narrative
        `anchor` as originalText; when unknown, only the originalText (and nullFlavor `null`)."""
        text = [original_text(anchor)] if anchor else []
        if code:
            label = self.label(system, code) or display
            return E(
                tag,
                attrs(code=code, displayName=label, codeSystem=system, codeSystemName=system_name),
                *text,
                *children,
            )
        return E(tag, *text, *children, **attrs(nullFlavor=null))

    def value_cd(self, system: str, code: str, anchor: str) -> Element:
        """`value xsi:type="CD"`: coded when a code is known, else only its originalText (PCC Problem Entry)."""
        system_name = "CIM-10" if system == codes.CIM10 else None
        value = self.local_code(system, system_name, code, anchor, tag="value", null=None)
        value.set(XSI_TYPE, "CD")
        return value

    def listed_text(self, prefix: str, items: Iterable[M], text_of: Callable[[M], str]) -> Element | None:
        """A one-column narrative table of the kept items (text-only sections), None when none is kept."""
        rows = [(content(text_of(item), anchor),) for item, _key, anchor in self.kept(prefix, items)]
        return text_block(table((), rows)) if rows else None

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
        observations = [
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
            )
            for index, one_value in enumerate(values)
        ]
        return self.concern(codes.T_PROBLEM_CONCERN, key, concern_time, observations, active=active)

    def concern(
        self, tids: Sequence[str], key: str, time: Element, observations: Sequence[Element], *, active: bool
    ) -> Element:
        """An IHE PCC concern entry (act) around its subject observation(s): problem or allergy concern."""
        return E.entry(
            E.act(
                *template_ids(tids),
                self.entry_id(key, "concern"),
                E.code(nullFlavor="NA"),
                E.statusCode(code="active" if active else "completed"),
                time,
                *[E.entryRelationship(obs, typeCode="SUBJ", inversionInd="false") for obs in observations],
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

    def active_problems(self, title: str = S_ACTIVE) -> Element:
        """FR-Problemes-actifs (1.2.250.1.213.1.1.2.132): active problems and the ALDs not already listed."""
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for problem, key, anchor in self.kept("problem", self.summary.active_problems):
            rows.append((french_date(problem.onset), content(problem.label, anchor), problem.cim10_code))
            entries.append(
                self.problem_entry(key, anchor, _codes(problem.cim10_code), low=problem.onset, high=None, active=True)
            )
        for ald, key, anchor in self.kept("ald", _alds_without_problem(self.summary)):
            ald_codes = _ald_codes(ald)
            rows.append((french_date(ald.start), content(_ald_text(ald), anchor), " ".join(ald_codes)))
            entries.append(self.problem_entry(key, anchor, ald_codes, low=ald.start, high=None, active=True))
        if rows:
            text = text_block(table(("Depuis le", "Pathologie en cours", "CIM-10"), rows))
        else:
            anchor = "active-problems-none"
            text = said("Aucune pathologie en cours renseignée.", anchor)
            entries = [self.no_problem_info(anchor, anchor)]
        return self.section(codes.T_SEC_ACTIVE_PROBLEMS, "active", codes.SEC_ACTIVE_PROBLEMS, title, text, *entries)

    def medical_history(self, *, required: bool = True) -> Element | None:
        """FR-Antecedents-medicaux (1.2.250.1.213.1.1.2.134): resolved problems and medical history. Empty: the
        "no-problem-info" entry when the model requires the section (VSM), else no section (IPS-FR 0..1)."""
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for problem, key, anchor in self.kept("problem", self.summary.resolved_problems):
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
        for history, key, anchor in self.kept("history", self.summary.medical_history):
            rows.append((french_date(history.date), "", content(history.label, anchor), history.cim10_code))
            entries.append(
                self.problem_entry(
                    key, anchor, _codes(history.cim10_code), low=history.date, high=history.date, active=False
                )
            )
        if rows:
            text = text_block(table(("Début", "Fin", "Antécédent médical", "CIM-10"), rows))
        elif not required:
            return None
        else:
            anchor = "medical-history-none"
            text = said("Aucun antécédent médical renseigné.", anchor)
            entries = [self.no_problem_info(anchor, anchor)]
        return self.section(
            codes.T_SEC_MEDICAL_HISTORY, "medical", codes.SEC_MEDICAL_HISTORY, S_MEDICAL, text, *entries
        )

    def surgical_history(self, title: str = S_SURGICAL) -> Element:
        """FR-Antecedents-chirurgicaux / Historique des actes (1.2.250.1.213.1.1.2.136): FR-Acte entries (CCAM)."""
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for history, key, anchor in self.kept("history", self.summary.surgical_history):
            rows.append((french_date(history.date), content(history.label, anchor), history.ccam_code))
            act_code = self.local_code(codes.CCAM, "CCAM", history.ccam_code, anchor)
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
            text = said("Aucun antécédent chirurgical renseigné.", anchor)
            no_info = coded("code", codes.NO_PROCEDURE_INFO, original_text(anchor))
            entries = [self.procedure(anchor, no_info, anchor, E.effectiveTime(nullFlavor="NA"))]
        return self.section(codes.T_SEC_SURGICAL_HISTORY, "surgical", codes.SEC_SURGICAL_HISTORY, title, text, *entries)

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
        for allergy, key, anchor in self.kept("allergy", self.summary.allergies):
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
            anchor = narrative_id(KEY_NO_KNOWN_ALLERGY)
            text = said("Aucune allergie connue.", anchor)
            entries = [self.allergy_absent(KEY_NO_KNOWN_ALLERGY, anchor, codes.NO_KNOWN_ALLERGIES)]
        else:
            anchor = "allergies-unknown"
            text = said("Allergies non renseignées.", anchor)
            entries = [self.allergy_absent(anchor, anchor, codes.NO_ALLERGY_INFO)]
        return self.section(codes.T_SEC_ALLERGIES, "allergies", codes.SEC_ALLERGIES, S_ALLERGIES, text, *entries)

    def allergy_concern(self, key: str, observation: Element, low: str | None, *, active: bool) -> Element:
        concern_time = ivl_ts(low) if active else E.effectiveTime(E.low(nullFlavor="NA"), E.high(nullFlavor="NA"))
        return self.concern(codes.T_ALLERGY_CONCERN, key, concern_time, [observation], active=active)

    def allergy_entry(self, allergy: Allergy, key: str, anchor: str) -> Element:
        """FR-Allergie-ou-hypersensibilite: SNOMED type, agent (participant CSM, CIS for a drug), status."""
        low = ts_date(allergy.onset) if allergy.onset else None
        value = E.value(original_text(anchor + "-reaction" if allergy.reaction else anchor))
        value.set(XSI_TYPE, "CD")
        if allergy.agent_kind == Allergy.AgentKind.DRUG:
            agent_code = self.local_code(
                codes.CIS, "CIS", allergy.agent_code, anchor + "-agent", display=allergy.agent_label
            )
        else:  # a substance or a class: its ATC code when it has one (issue 13 §2)
            agent_code = self.local_code(
                codes.ATC, "ATC", allergy.agent_code, anchor + "-agent", display=allergy.agent_label
            )
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
        for item, key, anchor in self.kept("lifestyle", self.summary.lifestyle):
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

    def professional_risks(self, *, required: bool = True) -> Element | None:
        """FR-Facteurs-de-risque-professionnels (1.2.250.1.213.1.1.2.74), text only. Empty: a sentence when the
        model requires the section (VSM), else no section (IPS-FR 0..1)."""
        text = self.listed_text("risk", self.summary.professional_risks, lambda risk: risk.label)
        if text is None:
            if not required:
                return None
            text = text_block(paragraph("Aucun facteur de risque professionnel renseigné."))
        return self.section(
            codes.T_SEC_PROFESSIONAL_RISKS, "professional", codes.SEC_PROFESSIONAL_RISKS, S_PROFESSIONAL, text
        )

    def family_history(self) -> Element | None:
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for item, key, anchor in self.kept("family", self.summary.family_history):
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

    def medications(self, title: str = "Traitements") -> Element:
        """FR-Traitements (IHE PCC Medications 1.3.6.1.4.1.19376.1.5.3.1.3.19): the long-term treatments, coded;
        nothing recorded gives the [Catalog] "no-medication-info" entry."""
        rows: list[Sequence[Cell]] = []
        entries: list[Element] = []
        for treatment, key, anchor in self.kept("treatment", self.summary.treatments):
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
            text = said("Aucun traitement au long cours renseigné.", anchor)
            entries = [self.no_medication_info(anchor)]
        return self.section(codes.T_SEC_MEDICATIONS, "medications", codes.SEC_MEDICATIONS, title, text, *entries)

    def treatment_entry(self, treatment: LongTermTreatment, key: str, anchor: str) -> Element:
        """FR-Traitement (normal dosing) with FR-Produit-de-sante: CIS code, ATC class (see
        `atc_in_generalized_class`), EDQM route, UCUM dose (low = high), reason as FR-Reference-interne (CIM-10)."""
        children: list[Element] = [
            *template_ids(self.medication_templates),
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
            route = _route_label(treatment)
            children.append(
                self.local_code(
                    codes.EDQM, "EDQM", treatment.route_code, anchor + "-route", tag="routeCode", display=route
                )
            )
        if treatment.dose_quantity is not None:
            # UCUM; a dose form is an ASCII annotation ({tablet}) that terminologie.sch accepts (issue 13 §2).
            unit = dose_unit_code(treatment.dose_unit) or "1"
            dose = number(treatment.dose_quantity)
            children.append(E.doseQuantity(E.low(value=dose, unit=unit), E.high(value=dose, unit=unit)))
        translation = (
            [self.local_code(codes.ATC, "ATC", treatment.atc_code, None, tag="translation")]
            if treatment.atc_code and not self.atc_in_generalized_class
            else []
        )
        product_code = self.local_code(
            codes.CIS, "CIS", treatment.cis_code, anchor, *translation, display=treatment.drug_label
        )
        children.append(
            E.consumable(
                E.manufacturedProduct(
                    *template_ids(codes.T_PRODUCT),
                    E.manufacturedMaterial(product_code, E.name(treatment.drug_label), *self.generic_class(treatment)),
                )
            )
        )
        reason = treatment.reason_label or treatment.reason_cim10
        if reason:
            # FR-Reference-interne: an uncoded referenced element gives code nullFlavor NA.
            reason_code = self.local_code(codes.CIM10, "CIM-10", treatment.reason_cim10, anchor + "-reason", null="NA")
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

    def generic_class(self, treatment: LongTermTreatment) -> list[Element]:
        """IPS-FR "Équivalent générique" (IPS-FR example, FR-Produit-de-sante): the ATC class as
        `pharm:asSpecializedKind[GRIC]/pharm:generalizedMedicineClass[MMAT]/pharm:code` (ATC 2.16.840.1.113883.6.73),
        XSD `infrastructure/cda/pharmacy/COCT_MT230100UV_ext_pharmacy.xsd` (after `name`)."""
        if not (self.atc_in_generalized_class and treatment.atc_code):
            return []
        label = self.label(codes.ATC, treatment.atc_code)
        medicine_class = P.generalizedMedicineClass(
            P.code(attrs(code=treatment.atc_code, displayName=label, codeSystem=codes.ATC, codeSystemName="ATC")),
            *([P.name(label)] if label else []),
            classCode="MMAT",
        )
        return [P.asSpecializedKind(medicine_class, classCode="GRIC")]

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


def said(sentence: str, anchor: str) -> Element:
    """The narrative of a section with nothing to list: one sentence, referenced by the "absent" entry."""
    return text_block(paragraph(content(sentence, anchor)))


def _codes(code: str) -> list[str]:
    return [code] if code else []


def narrative_id(key: str) -> str:
    """Narrative ID of an element key ("allergy:3" → "allergy-3"): an XML NCName, unique in the document."""
    return key.replace(":", "-")


def _allergy_code(allergy: Allergy) -> Code:
    # JDV_TypeEvenementIndesirablePrevisible_CISIS (1.2.250.1.213.1.1.5.794).
    if allergy.agent_kind == Allergy.AgentKind.DRUG:
        return codes.INTOLERANCE_DRUG if allergy.is_intolerance else codes.ALLERGY_DRUG
    return codes.INTOLERANCE_SUBSTANCE if allergy.is_intolerance else codes.ALLERGY_SUBSTANCE


def concept_labels(summary: RecordSummary, cache: LabelCache) -> LabelCache:
    """Official labels (displayName) of every code the summary carries: one query for the codes not in `cache`.

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
