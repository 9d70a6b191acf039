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

The sections and entries themselves are shared with IPS-FR and built in `entries.py` (absent/unknown forms,
element keys, exclusions); this module arranges them the VSM 1.4 way.

The doctor can untick elements in the validation panel: `vsm_elements` lists them with stable keys
("problem:12", "allergy:3", "allergy:none"…) and `build_vsm(exclude=…)` drops each excluded key from both the
narrative and the entries.

VSM 1.4 has no section for a PDF copy of the document (that "FR-Document-PDF-copie" section belongs to newer
volets such as CR-BIO 2024.01): the human-readable PDF is stored beside the CDA, not inside it. The record's
vital signs have no section in VSM 1.4 either (IPS-FR carries them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from lxml import etree

from caducee.accounts.models import Practice, User
from caducee.documents.cda import codes
from caducee.documents.cda.entries import (
    KEY_NO_KNOWN_ALLERGY,
    S_FAMILY,
    S_LIFESTYLE,
    S_TREATMENTS,
    S_VIGILANCE,
    LabelCache,
    SectionBuilder,
    SummaryElement,
    summary_elements,
)
from caducee.documents.cda.header import DocumentIdsLike, MissingDataError, header_problems
from caducee.documents.cda.narrative import paragraph, text_block
from caducee.documents.cda.xml import E, Element
from caducee.record.selectors import RecordSummary

__all__ = [
    "KEY_NO_KNOWN_ALLERGY",
    "LabelCache",
    "MissingDataError",
    "VsmElement",
    "build_vsm",
    "vsm_elements",
    "vsm_problems",
]

TITLE = "Volet de synthèse médicale"

# The panel's element (kept under its historical name).
VsmElement = SummaryElement


def vsm_elements(summary: RecordSummary) -> list[VsmElement]:
    """Every element the VSM would carry, in document order, with the key `build_vsm(exclude=…)` understands."""
    return summary_elements(summary)


def vsm_problems(*, summary: RecordSummary, practice: Practice | None, author: User | None) -> list[str]:
    """Mandatory data missing to build this patient's VSM, in plain French (nothing is built if any)."""
    return header_problems(practice=practice, author=author, patient=summary.patient)


class _VsmBuilder(SectionBuilder):
    """The VSM 1.4 arrangement of the shared sections (.2.29 ⊃ .2.30 + .2.31, vigilance, .2.32 ⊃ Traitements)."""

    type_code = codes.DOC_SYNTH
    document_title = TITLE
    document_templates = ((codes.TPL_VSM, codes.TPL_VSM_EXT),)
    service_event_code = codes.SERVICE_EVENT_HISTORY

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
        text = self.listed_text("vigilance", self.summary.vigilance_points, lambda point: point.text)
        if text is None:
            text = text_block(paragraph("Aucun point de vigilance renseigné."))
        # The IHE Results section is uncoded here (S_results: no entry without the coded-results templateId).
        return self.section(codes.T_SEC_VIGILANCE, "vigilance", codes.SEC_VIGILANCE, S_VIGILANCE, text)

    def treatments(self) -> Element:
        # S_planTraitement_ANS: no text of its own when the Traitements sub-section is present.
        return self.section(
            codes.T_SEC_TREATMENT_PLAN, "treatment-plan", codes.SEC_TREATMENT_PLAN, S_TREATMENTS, self.medications()
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
    doc = _VsmBuilder.document(
        summary=summary,
        ids=ids,
        practice=practice,
        author=author,
        effective_time=effective_time,
        exclude=exclude,
        confidentiality=confidentiality,
        replaces=replaces,
        label_cache=label_cache,
    )
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
