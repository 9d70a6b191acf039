"""Writes of the clinical record (issue 3 §1): every change is dated, attributed, kept and audited.

Each service checks CLINICAL_WRITE first (a secretary never writes — nor reads — clinical content),
validates, then in one transaction writes the entry, a RecordHistory row holding a JSON snapshot of
the entry after the change, and an audit event. Deletion is soft (`deleted_at`): an entry removed by
mistake stays in the history, never in the summary. Codes are checked against the loaded
terminologies, so what the record holds passes the VSM terminology schematron (terminologie.sch).

Services are named `<entity>_<action>` with keyword-only arguments (HackSoft); no signals.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar, cast

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.patients.models import Ald, Patient
from caducee.record.allergens import allergens
from caducee.record.dose_units import dose_unit, dose_unit_code
from caducee.record.models import (
    Allergy,
    AllergyStatement,
    Entry,
    FamilyHistory,
    History,
    Lifestyle,
    LongTermTreatment,
    Problem,
    ProfessionalRisk,
    RecordHistory,
    VigilancePoint,
    Vital,
)
from caducee.record.terminology import concept_exists, concept_label

E = TypeVar("E", bound=Entry | Ald)

# Entry type names, as stored in RecordHistory.entry_type and in audit actions (record.<type>.<action>).
ENTRY_TYPES: dict[type[models.Model], str] = {
    Problem: "problem",
    History: "history",
    FamilyHistory: "family_history",
    Allergy: "allergy",
    AllergyStatement: "allergy_statement",
    ProfessionalRisk: "professional_risk",
    Lifestyle: "lifestyle",
    VigilancePoint: "vigilance_point",
    LongTermTreatment: "treatment",
    Vital: "vital",
    Ald: "ald",
}

# Fields a caller may change with <entity>_update (never patient, authorship or deletion columns).
_EDITABLE: dict[type[models.Model], frozenset[str]] = {
    Problem: frozenset({"label", "cim10_code", "status", "onset", "resolved_on"}),
    History: frozenset({"kind", "label", "cim10_code", "ccam_code", "date"}),
    FamilyHistory: frozenset({"relation", "label", "cim10_code"}),
    Allergy: frozenset({"agent_kind", "agent_label", "agent_code", "is_intolerance", "reaction", "severity", "onset"}),
    ProfessionalRisk: frozenset({"label"}),
    Lifestyle: frozenset({"kind", "value", "quantity", "unit"}),
    VigilancePoint: frozenset({"text"}),
    LongTermTreatment: frozenset(
        {
            "drug_label",
            "cis_code",
            "atc_code",
            "dose_quantity",
            "dose_unit",
            "route_code",
            "frequency",
            "start",
            "end",
            "reason_label",
            "reason_cim10",
        }
    ),
    Ald: frozenset({"label", "cim10_codes", "start", "end"}),
}

# Units of the vitals (UCUM, as the CI-SIS FR-Signe-vital-observe entries carry them).
VITAL_UNITS: dict[str, str] = {
    Vital.Kind.WEIGHT: "kg",
    Vital.Kind.HEIGHT: "cm",
    Vital.Kind.BMI: "kg/m2",
    Vital.Kind.SYSTOLIC: "mm[Hg]",
    Vital.Kind.DIASTOLIC: "mm[Hg]",
    Vital.Kind.HEART_RATE: "/min",
    Vital.Kind.TEMPERATURE: "Cel",
    Vital.Kind.SPO2: "%",
}
# Plausible ranges: a typing slip (weight in grams, height in metres) is refused, not recorded.
VITAL_RANGES: dict[str, tuple[Decimal, Decimal]] = {
    Vital.Kind.WEIGHT: (Decimal("0.3"), Decimal("400")),
    Vital.Kind.HEIGHT: (Decimal("20"), Decimal("250")),
    Vital.Kind.SYSTOLIC: (Decimal("40"), Decimal("300")),
    Vital.Kind.DIASTOLIC: (Decimal("20"), Decimal("200")),
    Vital.Kind.HEART_RATE: (Decimal("20"), Decimal("300")),
    Vital.Kind.TEMPERATURE: (Decimal("30"), Decimal("45")),
    Vital.Kind.SPO2: (Decimal("30"), Decimal("100")),
}
# The annotation pattern of terminologie.sch, rule is-code-ucum-exist (replace(@unit, '\{.[a-z]*.\}', '')).
_UCUM_ANNOTATION = re.compile(r"\{.[a-z]*.\}")
# A height measured within this delay is reused for the BMI of a weight alone (adult follow-up).
HEIGHT_REUSE_DAYS = 366


# ---------------------------------------------------------------------------------------------------
# Common machinery


def _snapshot(instance: models.Model) -> dict[str, Any]:
    """JSON-ready copy of every concrete column (dates ISO 8601, decimals as strings)."""
    values = {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}
    encoder = DjangoJSONEncoder()
    plain = (str, int, float, bool, type(None))
    return {k: (v if isinstance(v, plain) else encoder.default(v)) for k, v in values.items()}


def _actor_or_none(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _trace(*, actor: Any, instance: models.Model, patient_id: int, action: str, request: HttpRequest | None) -> None:
    """The history row and the audit event of one change, in the caller's transaction."""
    entry_type = ENTRY_TYPES[type(instance)]
    RecordHistory.objects.create(
        patient_id=patient_id,
        entry_type=entry_type,
        entry_id=instance.pk,
        action=action,
        at=timezone.now(),
        by=_actor_or_none(actor),
        data=_snapshot(instance),
    )
    audit_record(
        actor=actor,
        action=f"record.{entry_type}.{action}",
        object_type=entry_type,
        object_id=instance.pk,
        patient_id=patient_id,
        request=request,
    )


def _check_codes(instance: models.Model) -> None:
    """Coded fields must exist in the loaded terminology (when it is loaded); labels fill themselves."""
    errors: dict[str, str] = {}

    def check(field: str, system: str, label_field: str | None = None) -> None:
        code = getattr(instance, field, "")
        if not code:
            return
        code = code.strip().upper() if system != "ucum" else code.strip()
        setattr(instance, field, code)
        if system == "ucum":
            # terminologie.sch (is-code-ucum-exist): annotations {…} are removed, what remains (if
            # anything) must be a code of the UCUM table: "{pack}/a" → "/a"?, "{dose}" → "" (accepted).
            code = _UCUM_ANNOTATION.sub("", code)
            if not code:
                return
        if concept_exists(system, code) is False:
            errors[field] = f"Code {code} inconnu de la terminologie {system.upper()}."
        elif label_field and not getattr(instance, label_field, "").strip():
            setattr(instance, label_field, concept_label(system, code))

    if isinstance(instance, Problem | FamilyHistory):
        check("cim10_code", "cim10", "label")
    elif isinstance(instance, History):
        check("cim10_code", "cim10", "label")
        check("ccam_code", "ccam", "label")
    elif isinstance(instance, Allergy) and instance.agent_kind == Allergy.AgentKind.DRUG:
        check("agent_code", "cis", "agent_label")
    elif isinstance(instance, Allergy) and instance.agent_code:
        # A substance or a class is coded in the ATC (J01CA04 amoxicilline, J01C pénicillines), issue 13 §2.
        check("agent_code", "atc", "agent_label")
        if not instance.agent_label.strip():  # ATC classes have no French label in the kit: the list's
            instance.agent_label = next((a.label for a in allergens() if a.code == instance.agent_code), "")
    elif isinstance(instance, LongTermTreatment):
        check("cis_code", "cis", "drug_label")
        check("atc_code", "atc", "drug_label")
        check("route_code", "edqm")
        check("reason_cim10", "cim10", "reason_label")
        # « comprimé », « cp », « {comprimé} » → {tablet}: the French table's code (issue 13 §2).
        instance.dose_unit = dose_unit_code(instance.dose_unit)
        if instance.dose_unit and dose_unit(instance.dose_unit) is None:
            check("dose_unit", "ucum")
            if "dose_unit" in errors:
                errors["dose_unit"] = (
                    f"Unité « {instance.dose_unit} » inconnue : choisissez une unité proposée "
                    "(comprimé, gélule, sachet, goutte, mg, mL, UI…)."
                )
    elif isinstance(instance, Lifestyle):
        check("unit", "ucum")
    if errors:
        raise ValidationError(errors)


def _validate(instance: models.Model) -> None:
    _check_codes(instance)
    # One-line fields lose stray spaces (labels are shown and sent in CDA narratives); free text keeps its lines.
    for name in ("label", "agent_label", "drug_label", "value", "reason_label", "frequency", "reaction"):
        value = getattr(instance, name, None)
        if isinstance(value, str):
            setattr(instance, name, " ".join(value.split()))
    if isinstance(instance, VigilancePoint):
        instance.text = instance.text.strip()
    # Model validation: required fields, lengths, choices (one message per field, in French).
    instance.full_clean(exclude=["patient", "created_by"])
    if isinstance(instance, Problem):
        if instance.status == Problem.Status.RESOLVED and instance.resolved_on is None:
            instance.resolved_on = timezone.localdate()
        if instance.onset and instance.resolved_on and instance.resolved_on < instance.onset:
            raise ValidationError({"resolved_on": "La date de fin précède la date de début."})
    if isinstance(instance, LongTermTreatment | Ald) and instance.start and instance.end:
        if instance.end < instance.start:
            raise ValidationError({"end": "La date de fin précède la date de début."})


def _cleaned(model: type[models.Model], fields: dict[str, Any]) -> dict[str, Any]:
    """Fields normalised before validation where the model needs it (an ALD's list of CIM-10 codes)."""
    if model is Ald and "cim10_codes" in fields:
        return {**fields, "cim10_codes": _clean_ald_codes(fields["cim10_codes"])}
    return fields


def _create(model: type[E], *, actor: Any, patient: Patient, request: HttpRequest | None, **fields: Any) -> E:
    """The one way an entry (or an ALD) is created: permission, validation, then row + history + audit at once."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    fields = _cleaned(model, fields)
    now = timezone.now()
    authorship = (
        {"created_by": _actor_or_none(actor), "created_at": now, "updated_at": now} if issubclass(model, Entry) else {}
    )
    instance = model(patient=patient, **authorship, **fields)
    _validate(instance)
    with transaction.atomic():
        instance.save()
        _trace(actor=actor, instance=instance, patient_id=patient.pk, action="create", request=request)
    return instance


def _update(instance: E, *, actor: Any, request: HttpRequest | None, changes: dict[str, Any]) -> E:
    """The one way an entry (or an ALD) is changed: permission, editable fields, then under lock the change,
    its validation, history and audit at once."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    unknown = set(changes) - _EDITABLE[type(instance)]
    if unknown:
        raise ValueError(f"Champs non modifiables : {', '.join(sorted(unknown))}")
    changes = _cleaned(type(instance), changes)
    with transaction.atomic():
        # Re-read under lock: two doctors editing the same entry never silently lose a change.
        current = cast(E, type(instance)._default_manager.select_for_update().get(pk=instance.pk))
        if isinstance(current, Entry) and current.deleted_at is not None:
            raise ValidationError("Cette information a été supprimée du dossier.")
        for name, value in changes.items():
            setattr(current, name, value)
        _validate(current)
        if isinstance(current, Entry):
            current.updated_at = timezone.now()
        current.save()
        _trace(actor=actor, instance=current, patient_id=current.patient_id, action="update", request=request)
    return current


def _delete(instance: Entry, *, actor: Any, request: HttpRequest | None) -> None:
    check_permission(actor, Perm.CLINICAL_WRITE)
    with transaction.atomic():
        current = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
        if current.deleted_at is not None:
            return  # already deleted: idempotent, nothing more to trace
        current.deleted_at = current.updated_at = timezone.now()
        current.save(update_fields=["deleted_at", "updated_at"])
        _trace(actor=actor, instance=current, patient_id=current.patient_id, action="delete", request=request)
    instance.deleted_at = current.deleted_at


# ---------------------------------------------------------------------------------------------------
# Problems (FR-Probleme, CIM-10)


def problem_create(
    *,
    actor: Any,
    patient: Patient,
    label: str = "",
    cim10_code: str = "",
    status: str = Problem.Status.ACTIVE,
    onset: date | None = None,
    resolved_on: date | None = None,
    request: HttpRequest | None = None,
) -> Problem:
    """A pathology, CIM-10 coded or free text (the CIM-10 label fills an empty label)."""
    return _create(
        Problem,
        actor=actor,
        patient=patient,
        request=request,
        label=label,
        cim10_code=cim10_code,
        status=status,
        onset=onset,
        resolved_on=resolved_on,
    )


def problem_update(*, actor: Any, problem: Problem, request: HttpRequest | None = None, **changes: Any) -> Problem:
    return _update(problem, actor=actor, request=request, changes=changes)


def problem_resolve(
    *, actor: Any, problem: Problem, resolved_on: date | None = None, request: HttpRequest | None = None
) -> Problem:
    return _update(
        problem,
        actor=actor,
        request=request,
        changes={"status": Problem.Status.RESOLVED, "resolved_on": resolved_on or timezone.localdate()},
    )


def problem_delete(*, actor: Any, problem: Problem, request: HttpRequest | None = None) -> None:
    _delete(problem, actor=actor, request=request)


# ---------------------------------------------------------------------------------------------------
# Medical and surgical history


def history_create(
    *,
    actor: Any,
    patient: Patient,
    kind: str,
    label: str = "",
    cim10_code: str = "",
    ccam_code: str = "",
    date: date | None = None,
    request: HttpRequest | None = None,
) -> History:
    return _create(
        History,
        actor=actor,
        patient=patient,
        request=request,
        kind=kind,
        label=label,
        cim10_code=cim10_code,
        ccam_code=ccam_code,
        date=date,
    )


def history_update(*, actor: Any, history: History, request: HttpRequest | None = None, **changes: Any) -> History:
    return _update(history, actor=actor, request=request, changes=changes)


def history_delete(*, actor: Any, history: History, request: HttpRequest | None = None) -> None:
    _delete(history, actor=actor, request=request)


# ---------------------------------------------------------------------------------------------------
# Family history


def family_history_create(
    *,
    actor: Any,
    patient: Patient,
    relation: str,
    label: str = "",
    cim10_code: str = "",
    request: HttpRequest | None = None,
) -> FamilyHistory:
    return _create(
        FamilyHistory,
        actor=actor,
        patient=patient,
        request=request,
        relation=relation,
        label=label,
        cim10_code=cim10_code,
    )


def family_history_update(
    *, actor: Any, family_history: FamilyHistory, request: HttpRequest | None = None, **changes: Any
) -> FamilyHistory:
    return _update(family_history, actor=actor, request=request, changes=changes)


def family_history_delete(*, actor: Any, family_history: FamilyHistory, request: HttpRequest | None = None) -> None:
    _delete(family_history, actor=actor, request=request)


# ---------------------------------------------------------------------------------------------------
# Allergies and intolerances (FR-Allergie-ou-hypersensibilite); "aucune allergie connue" vs unknown


def allergy_create(
    *,
    actor: Any,
    patient: Patient,
    agent_kind: str,
    agent_label: str = "",
    agent_code: str = "",
    is_intolerance: bool = False,
    reaction: str = "",
    severity: str = "",
    onset: date | None = None,
    request: HttpRequest | None = None,
) -> Allergy:
    """An allergy; it withdraws a previous "aucune allergie connue", which it contradicts."""
    with transaction.atomic():
        allergy = _create(
            Allergy,
            actor=actor,
            patient=patient,
            request=request,
            agent_kind=agent_kind,
            agent_label=agent_label,
            agent_code=agent_code,
            is_intolerance=is_intolerance,
            reaction=reaction,
            severity=severity,
            onset=onset,
        )
        statement = AllergyStatement.objects.select_for_update().filter(patient=patient, none_known=True).first()
        if statement is not None:
            _statement_set(statement, none_known=False, actor=actor, request=request)
    return allergy


def allergy_update(*, actor: Any, allergy: Allergy, request: HttpRequest | None = None, **changes: Any) -> Allergy:
    return _update(allergy, actor=actor, request=request, changes=changes)


def allergy_delete(*, actor: Any, allergy: Allergy, request: HttpRequest | None = None) -> None:
    _delete(allergy, actor=actor, request=request)


def allergy_none_known(*, actor: Any, patient: Patient, request: HttpRequest | None = None) -> AllergyStatement:
    """Assert "aucune allergie connue" (VSM: a coded absence, distinct from "non renseigné").

    Refused while an allergy is recorded: the record would contradict itself.
    """
    check_permission(actor, Perm.CLINICAL_WRITE)
    with transaction.atomic():
        if Allergy.objects.filter(patient=patient, deleted_at__isnull=True).exists():
            raise ValidationError(
                "Des allergies sont enregistrées : supprimez-les avant de déclarer « aucune allergie connue »."
            )
        statement, _created = AllergyStatement.objects.select_for_update().get_or_create(
            patient=patient, defaults={"none_known": False, "asserted_by": _actor_or_none(actor)}
        )
        _statement_set(statement, none_known=True, actor=actor, request=request)
    return statement


def allergy_statement_withdraw(
    *, actor: Any, patient: Patient, request: HttpRequest | None = None
) -> AllergyStatement | None:
    """Back to "non renseigné" (the assertion was made by mistake)."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    with transaction.atomic():
        statement = AllergyStatement.objects.select_for_update().filter(patient=patient).first()
        if statement is not None and statement.none_known:
            _statement_set(statement, none_known=False, actor=actor, request=request)
    return statement


def _statement_set(statement: AllergyStatement, *, none_known: bool, actor: Any, request: HttpRequest | None) -> None:
    statement.none_known = none_known
    statement.asserted_at = timezone.now()
    statement.asserted_by = _actor_or_none(actor)
    statement.save()
    _trace(actor=actor, instance=statement, patient_id=statement.patient_id, action="update", request=request)


# ---------------------------------------------------------------------------------------------------
# Risk factors, lifestyle, vigilance points


def professional_risk_create(
    *, actor: Any, patient: Patient, label: str, request: HttpRequest | None = None
) -> ProfessionalRisk:
    return _create(ProfessionalRisk, actor=actor, patient=patient, request=request, label=label)


def professional_risk_update(
    *, actor: Any, professional_risk: ProfessionalRisk, request: HttpRequest | None = None, **changes: Any
) -> ProfessionalRisk:
    return _update(professional_risk, actor=actor, request=request, changes=changes)


def professional_risk_delete(
    *, actor: Any, professional_risk: ProfessionalRisk, request: HttpRequest | None = None
) -> None:
    _delete(professional_risk, actor=actor, request=request)


def lifestyle_create(
    *,
    actor: Any,
    patient: Patient,
    kind: str,
    value: str,
    quantity: Decimal | None = None,
    unit: str = "",
    request: HttpRequest | None = None,
) -> Lifestyle:
    """A habitus coded with the LOINC social-history codes (JDV_SocialHistoryCodes_CISIS)."""
    return _create(
        Lifestyle, actor=actor, patient=patient, request=request, kind=kind, value=value, quantity=quantity, unit=unit
    )


def lifestyle_update(
    *, actor: Any, lifestyle: Lifestyle, request: HttpRequest | None = None, **changes: Any
) -> Lifestyle:
    return _update(lifestyle, actor=actor, request=request, changes=changes)


def lifestyle_delete(*, actor: Any, lifestyle: Lifestyle, request: HttpRequest | None = None) -> None:
    _delete(lifestyle, actor=actor, request=request)


def vigilance_point_create(
    *, actor: Any, patient: Patient, text: str, request: HttpRequest | None = None
) -> VigilancePoint:
    return _create(VigilancePoint, actor=actor, patient=patient, request=request, text=text)


def vigilance_point_update(
    *, actor: Any, vigilance_point: VigilancePoint, request: HttpRequest | None = None, **changes: Any
) -> VigilancePoint:
    return _update(vigilance_point, actor=actor, request=request, changes=changes)


def vigilance_point_delete(*, actor: Any, vigilance_point: VigilancePoint, request: HttpRequest | None = None) -> None:
    _delete(vigilance_point, actor=actor, request=request)


# ---------------------------------------------------------------------------------------------------
# Long-term treatments (FR-Traitement: CIS/ATC, UCUM dose, EDQM route)


def treatment_create(
    *,
    actor: Any,
    patient: Patient,
    drug_label: str = "",
    cis_code: str = "",
    atc_code: str = "",
    dose_quantity: Decimal | None = None,
    dose_unit: str = "",
    route_code: str = "",
    frequency: str = "",
    start: date | None = None,
    end: date | None = None,
    reason_label: str = "",
    reason_cim10: str = "",
    request: HttpRequest | None = None,
) -> LongTermTreatment:
    check_permission(actor, Perm.CLINICAL_WRITE)
    if dose_quantity is not None and not dose_unit:
        raise ValidationError({"dose_unit": "Précisez l'unité de la dose (comprimé, gélule, mg, mL…)."})
    return _create(
        LongTermTreatment,
        actor=actor,
        patient=patient,
        request=request,
        drug_label=drug_label,
        cis_code=cis_code,
        atc_code=atc_code,
        dose_quantity=dose_quantity,
        dose_unit=dose_unit,
        route_code=route_code,
        frequency=frequency,
        start=start,
        end=end,
        reason_label=reason_label,
        reason_cim10=reason_cim10,
    )


def treatment_update(
    *, actor: Any, treatment: LongTermTreatment, request: HttpRequest | None = None, **changes: Any
) -> LongTermTreatment:
    return _update(treatment, actor=actor, request=request, changes=changes)


def treatment_stop(
    *, actor: Any, treatment: LongTermTreatment, end: date | None = None, request: HttpRequest | None = None
) -> LongTermTreatment:
    """Stopping is not deleting: the treatment stays in the history with its end date."""
    return _update(treatment, actor=actor, request=request, changes={"end": end or timezone.localdate()})


def treatment_delete(*, actor: Any, treatment: LongTermTreatment, request: HttpRequest | None = None) -> None:
    _delete(treatment, actor=actor, request=request)


# ---------------------------------------------------------------------------------------------------
# Vitals


def _bmi(weight_kg: Decimal, height_cm: Decimal) -> Decimal:
    """Body-mass index, kg/m², one decimal (WHO definition: weight / height²)."""
    metres = Decimal(height_cm) / 100
    return (Decimal(weight_kg) / (metres * metres)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def vital_record(
    *,
    actor: Any,
    patient: Patient,
    measured_at: datetime | None = None,
    weight_kg: Decimal | None = None,
    height_cm: Decimal | None = None,
    systolic: Decimal | None = None,
    diastolic: Decimal | None = None,
    heart_rate: Decimal | None = None,
    temperature: Decimal | None = None,
    spo2: Decimal | None = None,
    request: HttpRequest | None = None,
) -> list[Vital]:
    """One set of measurements taken together; the BMI is computed when weight and height are known
    (a height measured in the last year is reused for a weight alone). Returns the Vitals written."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    at = measured_at or timezone.now()
    values: dict[str, Decimal] = {}
    for kind, value in (
        (Vital.Kind.WEIGHT, weight_kg),
        (Vital.Kind.HEIGHT, height_cm),
        (Vital.Kind.SYSTOLIC, systolic),
        (Vital.Kind.DIASTOLIC, diastolic),
        (Vital.Kind.HEART_RATE, heart_rate),
        (Vital.Kind.TEMPERATURE, temperature),
        (Vital.Kind.SPO2, spo2),
    ):
        if value is not None:
            values[kind] = Decimal(value)
    errors = {
        kind: f"{Vital.Kind(kind).label} hors des valeurs plausibles ({low}–{high} {VITAL_UNITS[kind]})."
        for kind, value in values.items()
        for low, high in [VITAL_RANGES[kind]]
        if not low <= value <= high
    }
    if (Vital.Kind.SYSTOLIC in values) != (Vital.Kind.DIASTOLIC in values):
        errors["pressure"] = "La pression artérielle se saisit avec la systolique et la diastolique."
    elif Vital.Kind.SYSTOLIC in values and values[Vital.Kind.SYSTOLIC] <= values[Vital.Kind.DIASTOLIC]:
        errors["pressure"] = "La pression systolique doit être supérieure à la diastolique."
    if errors:
        raise ValidationError(errors)
    if not values:
        raise ValidationError("Aucune mesure saisie.")
    if Vital.Kind.WEIGHT in values:
        height = values.get(Vital.Kind.HEIGHT)
        if height is None:
            previous = (
                Vital.objects.filter(
                    patient=patient,
                    kind=Vital.Kind.HEIGHT,
                    deleted_at__isnull=True,
                    measured_at__gte=at - timedelta(days=HEIGHT_REUSE_DAYS),
                    measured_at__lte=at,
                )
                .order_by("-measured_at")
                .values_list("value", flat=True)
                .first()
            )
            height = previous
        if height:
            values[Vital.Kind.BMI] = _bmi(values[Vital.Kind.WEIGHT], height)
    written: list[Vital] = []
    with transaction.atomic():
        for vital_kind, value in values.items():
            written.append(
                _create(
                    Vital,
                    actor=actor,
                    patient=patient,
                    request=request,
                    kind=vital_kind,
                    value=value,
                    unit=VITAL_UNITS[vital_kind],
                    measured_at=at,
                )
            )
    return written


def vital_delete(*, actor: Any, vital: Vital, request: HttpRequest | None = None) -> None:
    _delete(vital, actor=actor, request=request)


# ---------------------------------------------------------------------------------------------------
# ALD (patients.Ald): clinical data, so written here with the same trail


def _clean_ald_codes(codes: str) -> str:
    """'e11, I10' -> 'E11 I10'; every code must exist in CIM-10 (when loaded)."""
    cleaned = [c.strip().upper() for c in codes.replace(",", " ").replace(";", " ").split() if c.strip()]
    unknown = [c for c in cleaned if concept_exists("cim10", c) is False]
    if unknown:
        raise ValidationError({"cim10_codes": f"Codes CIM-10 inconnus : {', '.join(unknown)}."})
    return " ".join(dict.fromkeys(cleaned))


def ald_create(
    *,
    actor: Any,
    patient: Patient,
    label: str,
    cim10_codes: str = "",
    start: date,
    end: date | None = None,
    request: HttpRequest | None = None,
) -> Ald:
    # The label loses its stray spaces and the codes are cleaned (`_cleaned`) like any entry's.
    return _create(
        Ald, actor=actor, patient=patient, request=request, label=label, cim10_codes=cim10_codes, start=start, end=end
    )


def ald_update(*, actor: Any, ald: Ald, request: HttpRequest | None = None, **changes: Any) -> Ald:
    return _update(ald, actor=actor, request=request, changes=changes)


def ald_delete(*, actor: Any, ald: Ald, request: HttpRequest | None = None) -> None:
    """An ALD entered by mistake. patients.Ald has no soft-delete column: the row goes, its last
    snapshot stays in RecordHistory (an ALD that ended is closed with ald_update(end=…) instead)."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    with transaction.atomic():
        current = Ald.objects.select_for_update().filter(pk=ald.pk).first()
        if current is None:
            return
        _trace(actor=actor, instance=current, patient_id=current.patient_id, action="delete", request=request)
        current.delete()
