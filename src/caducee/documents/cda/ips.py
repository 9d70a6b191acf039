"""IPS-FR 2024.01 "Synthèse médicale" (International Patient Summary, France) — CDA R2 level 3, from the record.

The successor of the VSM (notes §1.1): same record, same element keys and exclusions, another arrangement.
Model: `examples/IPS-FR_2024.01.xml` and the profile `FRCDAClinicalDocumentIPS.fsh` (ansforge/
interop-ig-document-patient-summary); checked by `schematrons/CI-SIS_IPS-FR_2024.01.sch` (header
`Entete_IPS-FR.sch`: templateId 1.2.250.1.213.1.1.1.51, LOINC 60591-5, participant INF/PCP "Médecin Traitant"; body:
the five required sections) and, for each section and entry, the generic profiles.

Header: HL7 France + CI-SIS + IHE PCC IPS (2.16.840.1.113883.10.22.1.1) + IPS-FR (1.2.250.1.213.1.1.1.51 ext
2024.01), code 60591-5 "Synthèse médicale", serviceEvent without code (IPS-FR example), the médecin traitant as
participant INF/PCP when known (0..1 in the FSH).

Body, flat (FSH `component.structuredBody.component` slices, example order):

* required — Problèmes actifs, Historique des actes, Allergies et hypersensibilités, Traitements, Dispositifs
  médicaux — always present, with the CI-SIS "absent or unknown" entry when nothing is recorded (`entries.py`;
  the record keeps no devices, so Dispositifs médicaux always says `no-device-info`);
* optional — Antécédents médicaux, Points de vigilance (1.2.250.1.213.1.1.2.245, text only), Signes vitaux
  (coded when the LOINC code and UCUM unit are in JDV_SignesVitaux_CISIS / E_vitalSignsObservation_int), Habitus,
  Facteurs de risque professionnels, Antécédents familiaux — present only when the record (after the doctor's
  exclusions) has something to say.

Treatments follow the IPS-FR example: FR-Traitement also declares "traitement au long cours"
(1.2.250.1.213.1.1.3.42.3) and the ATC class goes in `pharm:generalizedMedicineClass` rather than a translation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.utils import timezone
from lxml import etree

from caducee.accounts.models import Practice, User
from caducee.documents.cda import codes
from caducee.documents.cda.entries import (
    S_VIGILANCE,
    S_VITALS,
    LabelCache,
    SectionBuilder,
    SummaryElement,
    summary_elements,
)
from caducee.documents.cda.header import DocumentIdsLike, MissingDataError, header_problems, pcp_participant
from caducee.documents.cda.narrative import Cell, content, french_date, paragraph, table, text_block
from caducee.documents.cda.xml import (
    XSI_TYPE,
    E,
    Element,
    coded,
    number,
    original_text,
    reference,
    template_ids,
    ts_datetime,
)
from caducee.patients.models import Patient
from caducee.record.models import Vital
from caducee.record.selectors import RecordSummary
from caducee.record.templatetags.record_tags import ucum

__all__ = ["TITLE", "MissingDataError", "build_ips", "ips_elements", "ips_problems"]

# FSH: code 60591-5 displayName "Synthèse médicale"; the title names the document the same way.
TITLE = "Synthèse médicale"

# Section titles (IPS-FR example wording where it differs from the panel labels).
T_ACTIVE = "Problèmes actifs"
T_PROCEDURES = "Historique des actes"
T_MEDICATIONS = "Traitements"
T_DEVICES = "Dispositifs médicaux"


def ips_elements(summary: RecordSummary) -> list[SummaryElement]:
    """Every element the Synthèse médicale would carry: the VSM's (same keys) plus the last vital signs."""
    return summary_elements(summary, vitals=True)


def ips_problems(*, summary: RecordSummary, practice: Practice | None, author: User | None) -> list[str]:
    """Mandatory data missing to build this patient's Synthèse médicale, in plain French (nothing built if any)."""
    return header_problems(practice=practice, author=author, patient=summary.patient)


class _IpsBuilder(SectionBuilder):
    """The IPS-FR 2024.01 arrangement: flat sections, the FR-Traitement and FR-Produit-de-sante of the example."""

    medication_templates = codes.T_MEDICATION_LONG_TERM
    atc_in_generalized_class = True
    type_code = codes.DOC_PATIENT_SUMMARY
    document_title = TITLE
    document_templates = ((codes.TPL_IHE_PCC_IPS, None), (codes.TPL_IPS, codes.TPL_IPS_EXT))
    service_event_code = None

    def participants(self, practice: Practice) -> tuple[Element, ...]:
        return _participants(self.summary.patient, practice)

    def medical_devices(self) -> Element:
        """FR-Dispositifs-medicaux (required, S_dispositifs_medicaux_ANS / S_medicalDevices: id, text, 46264-8).

        The record keeps no medical devices, so this is the catalog's "aucun DM" pattern with the code that does
        not overstate what is known: FR-Dispositif-medical (E_dispositifMedical-2_ANS: supply SPLY/EVN, one
        effectiveTime, one participant DEV/participantRole MANU/playingDevice DEV INSTANCE) coded `no-device-info`
        (JDV_AbsentOrUnknownDevices_CISIS), not `no-known-devices`.
        """
        anchor = "devices-unknown"
        text = text_block(paragraph(content("Dispositifs médicaux non renseignés.", anchor)))
        device = E.playingDevice(
            coded("code", codes.NO_DEVICE_INFO, original_text(anchor)), classCode="DEV", determinerCode="INSTANCE"
        )
        entry = E.entry(
            E.supply(
                *template_ids(codes.T_MEDICAL_DEVICE),
                E.id(nullFlavor="NA"),
                E.text(reference(anchor)),
                E.effectiveTime(nullFlavor="NA"),
                E.participant(E.participantRole(device, classCode="MANU"), typeCode="DEV"),
                classCode="SPLY",
                moodCode="EVN",
            )
        )
        return self.section(codes.T_SEC_MEDICAL_DEVICES, "devices", codes.SEC_MEDICAL_DEVICES, T_DEVICES, text, entry)

    def vigilance(self) -> Element | None:
        """FR-Points-de-vigilances-non-code (1.2.250.1.213.1.1.2.245, 44944-7 "Autres alertes"), text only; 0..1."""
        text = self.listed_text("vigilance", self.summary.vigilance_points, lambda point: point.text)
        if text is None:
            return None
        return self.section(codes.T_SEC_ALERTS, "alerts", codes.SEC_ALERTS, S_VIGILANCE, text)

    def vital_signs(self) -> Element | None:
        """FR-Signes-vitaux (0..1): the last measure of each kind, in one FR-Signes-vitaux organizer (85353-1,
        effectiveTime NA as in the IPS-FR example) of FR-Signe-vital-observe observations (PQ, UCUM).

        A measure whose code is outside JDV_SignesVitaux_CISIS or whose unit E_vitalSignsObservation_int refuses
        stays in the narrative only; with no coded measure at all the section drops the "coded vital signs"
        templateId, which requires an organizer (S_codedVitalSigns).
        """
        rows: list[Sequence[Cell]] = []
        observations: list[Element] = []
        for vital, key, anchor in self.kept("vital", self.summary.last_vitals):
            measured = _local_date(vital.measured_at)
            rows.append(
                (content(vital.get_kind_display(), anchor), f"{number(vital.value)} {ucum(vital.unit)}", measured)
            )
            observation = self.vital_observation(vital, key, anchor)
            if observation is not None:
                observations.append(E.component(observation, typeCode="COMP"))
        if not rows:
            return None
        text = text_block(table(("Signe vital", "Valeur", "Date de la mesure"), rows))
        if not observations:
            return self.section(codes.T_SEC_VITAL_SIGNS_UNCODED, "vitals", codes.SEC_VITAL_SIGNS, S_VITALS, text)
        organizer = E.organizer(
            *template_ids(codes.T_VITAL_SIGNS_ORGANIZER),
            self.entry_id("vital-signs"),
            coded("code", codes.VITAL_SIGNS_PANEL),
            E.statusCode(code="completed"),
            E.effectiveTime(nullFlavor="NA"),
            *observations,
            classCode="CLUSTER",
            moodCode="EVN",
        )
        entry = E.entry(organizer)
        return self.section(codes.T_SEC_VITAL_SIGNS, "vitals", codes.SEC_VITAL_SIGNS, S_VITALS, text, entry)

    def vital_observation(self, vital: Vital, key: str, anchor: str) -> Element | None:
        spec = codes.VITAL_SIGNS.get(vital.kind)
        if spec is None or vital.unit not in spec[1]:
            return None
        code, _units = spec
        # The recorded LOINC code is kept as a translation when the value set has another one (SpO2).
        translation = (
            [E.translation(code=vital.kind, codeSystem=codes.LOINC, codeSystemName="LOINC")]
            if code.code != vital.kind
            else []
        )
        value = E.value(value=number(vital.value), unit=vital.unit)
        value.set(XSI_TYPE, "PQ")
        return E.observation(
            *template_ids(codes.T_VITAL_SIGN),
            self.entry_id(key),
            coded("code", code, *translation),
            E.text(reference(anchor)),
            E.statusCode(code="completed"),
            E.effectiveTime(value=ts_datetime(vital.measured_at)),
            value,
            classCode="OBS",
            moodCode="EVN",
        )

    def body(self) -> Element:
        sections = (
            self.active_problems(title=T_ACTIVE),
            self.medical_history(required=False),
            self.surgical_history(title=T_PROCEDURES),
            self.allergies(),
            self.medications(title=T_MEDICATIONS),
            self.medical_devices(),
            self.vigilance(),
            self.vital_signs(),
            self.lifestyle(),
            self.professional_risks(required=False),
            self.family_history(),
        )
        return E.component(E.structuredBody(*[section for section in sections if section is not None]))


def _local_date(moment: dt.datetime) -> str:
    return french_date(timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date())


def _participants(patient: Patient, practice: Practice) -> tuple[Element, ...]:
    """The médecin traitant, INF/PCP (FSH slice medecinTraitant 0..1; Entete_IPS-FR checks its functionCode):
    written when known (in the practice, a correspondent or by name), left out otherwise rather than written as
    unknown; its time is the declaration's date, as in the IPS-FR example."""
    if (
        patient.medecin_traitant_id is None
        and patient.medecin_traitant_correspondent_id is None
        and not patient.medecin_traitant_externe.strip()
    ):
        return ()
    return (pcp_participant(patient, practice),)


def build_ips(
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
    """The IPS-FR 2024.01 Synthèse médicale of `summary.patient` (UTF-8 XML bytes), minus the `exclude`d keys
    (the keys of `ips_elements`, i.e. the VSM's plus "vital:<pk>").

    `label_cache`: a dict shared across calls (bulk generation) to read each code's official label only once.

    Raises MissingDataError (plain French list) when mandatory data is missing: nothing is built then.
    """
    doc = _IpsBuilder.document(
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
    # One xmlns:pharm on the root (as in the IPS-FR example) instead of one per pharm:asSpecializedKind.
    etree.cleanup_namespaces(doc, top_nsmap={"pharm": codes.NS_PHARM})
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
