"""Demo clinical records: ~15 patients of the demo practice get a rich, coherent record.

Fictitious data. Codes are real (CIM-10, CIS from the BDPM, ATC, EDQM routes, UCUM, LOINC social
history) so that the VSM built from these records passes the terminology schematron. Records are
written through the services (as dr.martin), so every entry has its history row and audit event.

Idempotent: a patient whose record already holds anything (a RecordHistory row) is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from caducee.accounts.models import Role, User
from caducee.identity.traits import clean_traits
from caducee.patients.models import Patient
from caducee.patients.services import patient_create
from caducee.record import services
from caducee.record.models import RecordHistory
from caducee.record.terminology import ensure_demo_terminology

ORAL, SUBCUTANEOUS, INHALED = "20053000", "20066000", "20020000"  # EDQM routes (JDV_RouteofAdministration)
# LOINC social-history codes (JDV_SocialHistoryCodes_CISIS); pack-years as in examples/VSM_1.4_2022.01.xml.
TOBACCO, PACKS, ALCOHOL, ACTIVITY = "72166-2", "74011-8", "74013-4", "73985-4"
PACK_UNIT, DRINK_UNIT = "{pack}/a", "{drink}/wk"


@dataclass(frozen=True)
class Drug:
    cis: str
    atc: str
    dose: str
    unit: str
    frequency: str
    route: str = ORAL


# Real CIS codes (BDPM 2021, marketed) with their ATC code; the label comes from the CIS terminology.
METFORMINE = Drug("61052830", "A10BA02", "1000", "mg", "1 comprimé matin et soir")
DAPAGLIFLOZINE = Drug("67456363", "A10BK01", "10", "mg", "1 comprimé le matin")
RAMIPRIL = Drug("61599041", "C09AA05", "5", "mg", "1 comprimé le matin")
AMLODIPINE = Drug("65728601", "C08CA01", "5", "mg", "1 gélule le matin")
ATORVASTATINE = Drug("68212077", "C10AA05", "20", "mg", "1 comprimé le soir")
BISOPROLOL = Drug("60077574", "C07AB07", "2.5", "mg", "1 comprimé le matin")
FUROSEMIDE = Drug("61337509", "C03CA01", "40", "mg", "1 comprimé le matin")
APIXABAN = Drug("61902218", "B01AF02", "5", "mg", "1 comprimé matin et soir")
ASPIRINE = Drug("64755969", "B01AC06", "75", "mg", "1 sachet le midi")
GLARGINE = Drug("64745003", "A10AE04", "18", "[iU]", "18 unités le soir", SUBCUTANEOUS)
ASPARTE = Drug("69482353", "A10AB05", "6", "[iU]", "selon glycémie, avant les repas", SUBCUTANEOUS)
DONEPEZIL = Drug("61869049", "N06DA02", "10", "mg", "1 comprimé le soir")
TIOTROPIUM = Drug("60363967", "R03BB04", "18", "ug", "1 inhalation le matin", INHALED)
SALMETEROL_FLUTICASONE = Drug("60569419", "R03AK06", "1", "{dose}", "1 inhalation matin et soir", INHALED)
SALBUTAMOL = Drug("61754100", "R03AC02", "100", "ug", "2 bouffées si gêne", INHALED)
LEVOTHYROX = Drug("62080626", "H03AA01", "75", "ug", "1 comprimé à jeun")
MODOPAR = Drug("65122219", "N04BA02", "125", "mg", "1 gélule 3 fois par jour")
LETROZOLE = Drug("66935695", "L02BG04", "2.5", "mg", "1 comprimé par jour")
PENTASA = Drug("66357483", "A07EC02", "1", "g", "2 comprimés par jour")
METHOTREXATE = Drug("60695745", "L04AX03", "15", "mg", "6 comprimés le lundi")
SPECIAFOLDINE = Drug("64732689", "B03BB01", "0.4", "mg", "1 comprimé le mardi")
TERALITHE = Drug("62124478", "N05AN01", "750", "mg", "3 comprimés le soir")
SERTRALINE = Drug("63063793", "N06AB06", "50", "mg", "1 gélule le matin")
ALLOPURINOL = Drug("63056731", "M04AA01", "100", "mg", "1 comprimé par jour")

AMOXICILLINE_CIS = "69118175"  # AMOXICILLINE BIOGARAN 500 mg, gélule


@dataclass
class Plan:
    """One demo patient's record. Dates are years ago (relative to today) so the demo never ages."""

    alds: list[tuple[str, str, int]] = field(default_factory=list)  # label, CIM-10 codes, years ago
    problems: list[tuple[str, int]] = field(default_factory=list)  # CIM-10 code, years ago
    resolved: list[tuple[str, int]] = field(default_factory=list)
    treatments: list[tuple[Drug, str, int]] = field(default_factory=list)  # drug, reason CIM-10, years ago
    history: list[tuple[str, str, str, int]] = field(default_factory=list)  # kind, label, code, years ago
    family: list[tuple[str, str]] = field(default_factory=list)  # relation, CIM-10 code
    allergies: list[dict[str, Any]] = field(default_factory=list)
    none_known: bool = False  # "aucune allergie connue"; neither allergies nor this: unknown
    lifestyle: list[tuple[str, str, str, str]] = field(default_factory=list)  # kind, value, quantity, unit
    risks: list[str] = field(default_factory=list)
    vigilance: list[str] = field(default_factory=list)
    vitals: dict[str, str] = field(default_factory=dict)  # vital_record arguments (Decimal strings)


PENICILLIN_ALLERGY = {
    "agent_kind": "drug",
    "agent_label": "Amoxicilline (pénicillines)",
    "agent_code": AMOXICILLINE_CIS,
    "reaction": "Urticaire généralisée et œdème des lèvres",
    "severity": "H",
}

NON_SMOKER = (TOBACCO, "Non-fumeur", "", "")

# By (birth name, first given name) of patients.demo.DEMO_PERSONAS.
PERSONA_PLANS: dict[tuple[str, str], Plan] = {
    ("ADRUN", "ZOE"): Plan(
        alds=[("Diabète de type 2", "E11", 6)],
        problems=[("E11", 8), ("I10", 10), ("E66.0", 10)],
        treatments=[(METFORMINE, "E11", 8), (DAPAGLIFLOZINE, "E11", 2), (RAMIPRIL, "I10", 10)],
        history=[("surgical", "Cholécystectomie", "", 15), ("medical", "Diabète gestationnel", "O24.4", 20)],
        family=[("MTH", "E11"), ("FTH", "I21.9")],
        none_known=True,
        lifestyle=[
            (TOBACCO, "Fumeuse, 10 cigarettes par jour", "", ""),
            (PACKS, "15 paquets-années", "15", PACK_UNIT),
            (ACTIVITY, "Marche 30 min par jour", "", ""),
        ],
        vigilance=["Fond d'œil annuel à programmer", "Surveillance de la fonction rénale (ISGLT2)"],
        vitals={"weight_kg": "92", "height_cm": "165", "systolic": "142", "diastolic": "88", "heart_rate": "76"},
    ),
    ("ADRTROIS", "TOUSSAINT"): Plan(
        alds=[("Insuffisance cardiaque grave", "I50.0", 3), ("Troubles du rythme graves", "I48.1", 3)],
        problems=[("I50.0", 3), ("I48.1", 3), ("I10", 12), ("E78.0", 12)],
        resolved=[("J18.9", 1)],
        treatments=[
            (BISOPROLOL, "I50.0", 3),
            (FUROSEMIDE, "I50.0", 3),
            (APIXABAN, "I48.1", 3),
            (RAMIPRIL, "I50.0", 3),
            (ATORVASTATINE, "E78.0", 12),
            (ALLOPURINOL, "M10.9", 5),
        ],
        history=[("medical", "Goutte", "M10.9", 5), ("surgical", "Prothèse totale de hanche droite", "", 4)],
        family=[("FTH", "I25.1")],
        allergies=[PENICILLIN_ALLERGY],
        lifestyle=[
            (TOBACCO, "Ancien fumeur, sevré depuis 2015", "", ""),
            (PACKS, "30 paquets-années", "30", PACK_UNIT),
            (ALCOHOL, "1 verre de vin par jour", "7", DRINK_UNIT),
        ],
        risks=["Exposition professionnelle à l'amiante (chantiers navals, 1980-1995)"],
        vigilance=["Anticoagulé (apixaban) : pas d'AINS", "Pesée quotidienne : consulter si + 2 kg en 3 jours"],
        vitals={"weight_kg": "84", "height_cm": "176", "systolic": "118", "diastolic": "72", "heart_rate": "64"},
    ),
    ("TCHITCHI", "OLA"): Plan(
        alds=[("Maladie d'Alzheimer", "G30.9", 4)],
        problems=[("G30.9", 4), ("I10", 20), ("M81.0", 10), ("H91.1", 8)],
        treatments=[(DONEPEZIL, "G30.9", 4), (AMLODIPINE, "I10", 20), (LEVOTHYROX, "E03.9", 15)],
        history=[("medical", "Hypothyroïdie", "E03.9", 15), ("surgical", "Cataracte bilatérale", "", 9)],
        family=[("MTH", "F03")],
        lifestyle=[NON_SMOKER],
        vigilance=[
            "Risque de chute : aide à domicile 2 fois par jour",
            "Fille référente, mesure de protection en cours",
        ],
        vitals={"weight_kg": "54", "height_cm": "155", "systolic": "132", "diastolic": "74"},
    ),
    ("NESSI", "MICHELANGELO"): Plan(
        alds=[("Diabète de type 1", "E10", 5)],
        problems=[("E10.9", 5)],
        treatments=[(GLARGINE, "E10.9", 5), (ASPARTE, "E10.9", 5)],
        family=[("FTH", "E10")],
        none_known=True,
        vigilance=["Resucrage : kit glucagon à l'école (PAI)"],
        vitals={"weight_kg": "41", "height_cm": "152"},
    ),
    ("HOUILLES", "PIERRE"): Plan(
        alds=[("Maladie de Crohn", "K50.9", 7)],
        problems=[("K50.9", 7), ("D50.9", 1)],
        treatments=[(PENTASA, "K50.9", 7)],
        history=[("surgical", "Résection iléo-cæcale", "", 5)],
        lifestyle=[(TOBACCO, "Non-fumeur (arrêt conseillé et obtenu)", "", "")],
        vitals={"weight_kg": "68", "height_cm": "181"},
    ),
    ("CORSE", "ANTHONY"): Plan(
        alds=[("Trouble bipolaire", "F31.9", 9)],
        problems=[("F31.9", 9), ("E03.9", 3)],
        treatments=[(TERALITHE, "F31.9", 9), (LEVOTHYROX, "E03.9", 3)],
        allergies=[
            {
                "agent_kind": "other",
                "agent_label": "Piqûres d'hyménoptères",
                "reaction": "Œdème local étendu",
                "severity": "M",
            }
        ],
        lifestyle=[
            (ALCOHOL, "Abstinent", "0", DRINK_UNIT),
            (TOBACCO, "Fumeur, 1 paquet par jour", "", ""),
            (PACKS, "20 paquets-années", "20", PACK_UNIT),
        ],
        vigilance=["Lithiémie et TSH tous les 3 mois", "Pas d'AINS ni de diurétique thiazidique (lithium)"],
        vitals={"weight_kg": "79", "height_cm": "178", "systolic": "128", "diastolic": "80"},
    ),
    ("ECETINSI", "PIERRE-ALAIN"): Plan(
        problems=[("J45.9", 6), ("J30.1", 6)],
        treatments=[(SALBUTAMOL, "J45.9", 6)],
        resolved=[("J18.9", 3)],
        family=[("MTH", "J45.9")],
        # allergies neither recorded nor denied: "non renseigné" in the VSM
        vitals={"weight_kg": "52", "height_cm": "165"},
    ),
    ("D'ARTAGNAN DE L'HERAULT", "PIERRE-ALAIN"): Plan(
        history=[("surgical", "Appendicectomie", "", 12)],
        resolved=[("M54.5", 1)],
        none_known=True,
        lifestyle=[(ACTIVITY, "Rugby, 3 entraînements par semaine", "", "")],
        risks=["Travail de nuit (agent de sécurité)"],
        vitals={"weight_kg": "88", "height_cm": "186", "systolic": "124", "diastolic": "70"},
    ),
}

# Extra fictitious patients (created if the practice has too few adult synthetic patients).
EXTRA_PATIENTS = (
    {
        "birth_name": "LEMAIRE",
        "first_given_name": "GERARD",
        "birth_date": "12/04/1948",
        "sex": "M",
        "birthplace_cog": "69123",
    },
    {
        "birth_name": "FONTAINE",
        "first_given_name": "MONIQUE",
        "birth_date": "03/09/1952",
        "sex": "F",
        "birthplace_cog": "42218",
    },
    {
        "birth_name": "MOREAU",
        "first_given_name": "JEAN-LUC",
        "birth_date": "22/11/1957",
        "sex": "M",
        "birthplace_cog": "01053",
    },
    {
        "birth_name": "GIRARD",
        "first_given_name": "HELENE",
        "birth_date": "08/02/1964",
        "sex": "F",
        "birthplace_cog": "38185",
    },
    {
        "birth_name": "ROUSSEL",
        "first_given_name": "ANDRE",
        "birth_date": "30/06/1945",
        "sex": "M",
        "birthplace_cog": "71270",
    },
    {
        "birth_name": "BLANC",
        "first_given_name": "CHRISTINE",
        "birth_date": "17/10/1959",
        "sex": "F",
        "birthplace_cog": "26362",
    },
)

# Records given, in order, to adult synthetic patients (or to the extra ones above).
SYNTHETIC_PLANS: tuple[Plan, ...] = (
    Plan(
        alds=[("Insuffisance respiratoire chronique grave (BPCO)", "J44.9", 5)],
        problems=[("J44.9", 8), ("I10", 10)],
        treatments=[(TIOTROPIUM, "J44.9", 8), (SALMETEROL_FLUTICASONE, "J44.9", 5), (AMLODIPINE, "I10", 10)],
        none_known=True,
        lifestyle=[(TOBACCO, "Ancien fumeur", "", ""), (PACKS, "45 paquets-années", "45", PACK_UNIT)],
        risks=["Exposition professionnelle à la poussière (maçon)"],
        vigilance=["Vaccinations grippe et pneumocoque à jour chaque année"],
        vitals={"weight_kg": "71", "height_cm": "172", "systolic": "136", "diastolic": "82"},
    ),
    Plan(
        alds=[("Néphropathie chronique grave", "N18.4", 2), ("Diabète de type 2", "E11", 12)],
        problems=[("N18.4", 2), ("E11.2", 12), ("I10", 15)],
        treatments=[(GLARGINE, "E11.2", 4), (AMLODIPINE, "I10", 15), (ATORVASTATINE, "E11.2", 12)],
        allergies=[
            {
                "agent_kind": "substance",
                "agent_label": "Produits de contraste iodés",
                "reaction": "Érythème et prurit",
                "severity": "M",
            }
        ],
        family=[("SIB", "E11")],
        vigilance=["Adapter les posologies au DFG", "Pas de produit de contraste iodé sans préparation"],
        vitals={"weight_kg": "76", "height_cm": "162", "systolic": "148", "diastolic": "86"},
    ),
    Plan(
        alds=[("Maladie coronaire", "I25.1", 6)],
        problems=[("I25.1", 6), ("E78.0", 10)],
        history=[
            ("medical", "Infarctus du myocarde", "I21.9", 6),
            ("surgical", "Angioplastie coronaire avec stent", "", 6),
        ],
        treatments=[
            (ASPIRINE, "I25.1", 6),
            (BISOPROLOL, "I25.1", 6),
            (ATORVASTATINE, "E78.0", 10),
            (RAMIPRIL, "I25.1", 6),
        ],
        none_known=True,
        family=[("FTH", "I21.9")],
        lifestyle=[
            (TOBACCO, "Ancien fumeur, sevré depuis l'infarctus", "", ""),
            (PACKS, "25 paquets-années", "25", PACK_UNIT),
        ],
        vitals={"weight_kg": "81", "height_cm": "174", "systolic": "126", "diastolic": "78", "heart_rate": "58"},
    ),
    Plan(
        alds=[("Cancer du sein", "C50.9", 2)],
        problems=[("C50.9", 2)],
        history=[("surgical", "Tumorectomie du sein gauche", "", 2)],
        treatments=[(LETROZOLE, "C50.9", 2), (SERTRALINE, "F32.9", 1)],
        family=[("MTH", "C50.9")],
        allergies=[PENICILLIN_ALLERGY],
        vigilance=["Ostéodensitométrie sous anti-aromatase"],
        vitals={"weight_kg": "63", "height_cm": "164"},
    ),
    Plan(
        alds=[("Maladie de Parkinson", "G20", 4)],
        problems=[("G20", 4), ("N40", 6)],
        treatments=[(MODOPAR, "G20", 4)],
        lifestyle=[NON_SMOKER, (ACTIVITY, "Kinésithérapie 2 fois par semaine", "", "")],
        vigilance=["Hypotension orthostatique : se lever lentement"],
        vitals={"weight_kg": "69", "height_cm": "170", "systolic": "112", "diastolic": "68"},
    ),
    Plan(
        alds=[("Polyarthrite rhumatoïde évolutive", "M06.9", 8)],
        problems=[("M06.9", 8), ("M81.0", 2)],
        treatments=[(METHOTREXATE, "M06.9", 8), (SPECIAFOLDINE, "M06.9", 8)],
        none_known=True,
        vigilance=["NFS et bilan hépatique tous les 3 mois (méthotrexate)"],
        vitals={"weight_kg": "58", "height_cm": "160"},
    ),
)


def _years_ago(years: int) -> date:
    today = timezone.localdate()
    return (
        today.replace(year=today.year - years)
        if not (today.month == 2 and today.day == 29)
        else today - timedelta(days=365 * years)
    )


def _apply(plan: Plan, *, patient: Patient, doctor: User) -> None:
    actor: dict[str, Any] = {"actor": doctor, "patient": patient}
    for label, codes, years in plan.alds:
        services.ald_create(**actor, label=label, cim10_codes=codes, start=_years_ago(years))
    for code, years in plan.problems:
        services.problem_create(**actor, cim10_code=code, onset=_years_ago(years))
    for code, years in plan.resolved:
        services.problem_create(
            **actor,
            cim10_code=code,
            status="resolved",
            onset=_years_ago(years),
            resolved_on=_years_ago(years) + timedelta(days=21),
        )
    for kind, label, code, years in plan.history:
        services.history_create(**actor, kind=kind, label=label, cim10_code=code, date=_years_ago(years))
    for relation, code in plan.family:
        services.family_history_create(**actor, relation=relation, cim10_code=code)
    for allergy in plan.allergies:
        services.allergy_create(**actor, **allergy)
    if plan.none_known:
        services.allergy_none_known(**actor)
    for drug, reason, years in plan.treatments:
        services.treatment_create(
            **actor,
            cis_code=drug.cis,
            atc_code=drug.atc,
            dose_quantity=Decimal(drug.dose),
            dose_unit=drug.unit,
            route_code=drug.route,
            frequency=drug.frequency,
            start=_years_ago(years),
            reason_cim10=reason,
        )
    for kind, value, quantity, unit in plan.lifestyle:
        services.lifestyle_create(
            **actor, kind=kind, value=value, quantity=Decimal(quantity) if quantity else None, unit=unit
        )
    for label in plan.risks:
        services.professional_risk_create(**actor, label=label)
    for text in plan.vigilance:
        services.vigilance_point_create(**actor, text=text)
    if plan.vitals:
        measures: dict[str, Any] = {k: Decimal(v) for k, v in plan.vitals.items()}
        services.vital_record(**actor, measured_at=timezone.now() - timedelta(days=20), **measures)


def _synthetic_candidates(excluded: set[int], count: int) -> list[Patient]:
    """Adult synthetic patients (born 1940-1970), in a stable order, for the ALD plans."""
    return list(
        Patient.objects.select_related("identity")
        .exclude(pk__in=excluded)
        .filter(identity__birth_date__gte="1940-01-01", identity__birth_date__lte="1970-12-31")
        .exclude(identity__birth_date__contains="-00")  # partial birth dates: keep the demo simple
        .order_by("id")[:count]
    )


def seed_record_demo(*, doctor_username: str = "dr.martin", progress: Callable[[str], None] | None = None) -> int:
    """Give the demo patients their clinical records (after patients.demo.seed_demo). Returns how many
    records were written this time (0 when already done)."""
    doctor = User.objects.filter(username=doctor_username).first() or User.objects.filter(role=Role.MEDECIN).first()
    if doctor is None:
        return 0
    ensure_demo_terminology()  # codes are checked against it
    done = set(RecordHistory.objects.values_list("patient_id", flat=True).distinct())
    targets: list[tuple[Patient, Plan]] = []
    used: set[int] = set()
    by_name = {
        (p.identity.birth_name, p.identity.first_given_name): p
        for p in Patient.objects.select_related("identity").filter(
            identity__birth_name__in=[name for name, _ in PERSONA_PLANS]
        )
    }
    for key, plan in PERSONA_PLANS.items():
        patient = by_name.get(key)
        if patient is not None:
            targets.append((patient, plan))
            used.add(patient.pk)
    # Synthetic patients that already hold a demo record keep it: pick the same ones again first.
    extra_names = {(e["birth_name"], e["first_given_name"]) for e in EXTRA_PATIENTS}
    existing_extra = [
        p
        for p in Patient.objects.select_related("identity").filter(identity__birth_name__in=[n for n, _ in extra_names])
        if (p.identity.birth_name, p.identity.first_given_name) in extra_names
    ]
    pool = [p for p in existing_extra if p.pk not in used]
    pool += [p for p in _synthetic_candidates(used | {p.pk for p in pool}, len(SYNTHETIC_PLANS)) if p.pk in done]
    pool += _synthetic_candidates(used | {p.pk for p in pool}, len(SYNTHETIC_PLANS) - len(pool))
    if len(pool) < len(SYNTHETIC_PLANS):
        secretary = User.objects.filter(role=Role.SECRETAIRE).first() or doctor
        have = {(p.identity.birth_name, p.identity.first_given_name) for p in existing_extra}
        for extra in EXTRA_PATIENTS:
            if len(pool) >= len(SYNTHETIC_PLANS):
                break
            if (extra["birth_name"], extra["first_given_name"]) not in have:
                patient = patient_create(actor=secretary, traits=clean_traits(extra))
                patient.medecin_traitant = doctor
                patient.save(update_fields=["medecin_traitant"])
                pool.append(patient)
    targets += list(zip(pool, SYNTHETIC_PLANS, strict=False))
    written = 0
    for patient, plan in targets:
        if patient.pk in done:
            continue
        with transaction.atomic():
            _apply(plan, patient=patient, doctor=doctor)
        written += 1
        if progress:
            progress(str(patient))
    return written
