"""Benchmark: VSM generation per patient, and `caducee vsm --ald` over a practice of ALD patients.

    .venv/bin/python bench/bench_vsm.py [--patients 2000] [--sample 200] [--seed 1] [--validate 20]

SQLite in var/bench-vsm/ unless DATABASE_URL is set. Missing patients are generated (caducee.patients.synthetic)
and every patient gets a realistic clinical record with one or two ALDs (bulk inserts, deterministic for a seed).
Measured:

1. per patient, `record_summary` (the SQL) and `build_vsm` (the XML), without schematrons — target < 20 ms;
2. `caducee vsm --ald --out-dir …` in a child process: wall time (target < 60 s for 2,000 ALD patients) and the
   child's peak resident memory from `resource.getrusage(RUSAGE_CHILDREN)` (target < 300 MB);
3. optionally, `--validate N` output files through the CI-SIS validator (XSD + schematrons), to show the bulk
   output is conformant.

A benchmark reports; it never fails: the exit status is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bench_common import percentile

ROOT = Path(__file__).resolve().parent.parent
TARGET_VSM_MS = 20.0
TARGET_BULK_S = 60.0
TARGET_RSS_MB = 300.0


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caducee.config.settings")
    # Synthetic identities carry the demo INS OID: only the sandbox may send them (R28 gate).
    os.environ["CADUCEE_SANDBOX"] = "1"
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CADUCEE_DATA_DIR", str(ROOT / "var" / "bench-vsm"))
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


# Real codes: CIM-10 / CCAM / EDQM / ATC present in the kit's terminology dumps, CIS codes from the BDPM.
PROBLEMS = [
    ("Diabète de type 2", "E11.9"),
    ("Hypertension artérielle essentielle", "I10"),
    ("Hypercholestérolémie", "E78.0"),
    ("Insuffisance cardiaque", "I50.0"),
    ("Asthme", "J45.9"),
    ("Hypothyroïdie", "E03.9"),
    ("Épisode dépressif", "F32.9"),
    ("Fibrillation auriculaire", "I48"),
    ("Arthrose du genou", "M17.9"),
    ("Bronchopneumopathie chronique obstructive", "J44.9"),
]
HISTORY = [("Pneumopathie", "J18.9"), ("Lombalgie", "M54.5"), ("Colique néphrétique", "N23"), ("Zona", "B02.9")]
SURGERY = [("Appendicectomie", "HHFA001"), ("Cholécystectomie", "HMFC004"), ("Pose de prothèse de hanche", "NEKA020")]
DRUGS = [
    ("METFORMINE 1000 mg, comprimé pelliculé", "69065160", "A10BA02", "{tablet}", "20053000", "E11.9"),
    ("ATORVASTATINE 10 mg, comprimé pelliculé", "61411404", "C10AA05", "{tablet}", "20053000", "E78.0"),
    ("LEVOTHYROX 100 microgrammes, comprimé sécable", "68416845", "H03AA01", "{tablet}", "20053000", "E03.9"),
    ("AMLODIPINE 10 mg, gélule", "69622809", "C08CA01", "{capsule}", "20053000", "I10"),
    ("KARDEGIC 75 mg, poudre pour solution buvable", "64755969", "B01AC06", "{sachet}", "20053000", "I48"),
    ("LANTUS 100 U/ml, solution injectable", "64745003", "A10AE04", "[IU]", "20066000", "E11.9"),
    ("SERETIDE 125/25, suspension pour inhalation", "69505268", "R03AK06", "{puff}", "20020000", "J45.9"),
    ("DOLIPRANE 1000 mg, comprimé", "60234100", "N02BE01", "mg", "20053000", ""),
]


def ensure_practice(patients: int, seed: int) -> None:
    """Patients (synthetic identities), a practice with two médecins, and a clinical record with ALDs for each."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from caducee.accounts.models import Practice, Role, User
    from caducee.patients.models import Ald, Patient
    from caducee.patients.synthetic import generate_practice
    from caducee.record import models as rec

    call_command("migrate", interactive=False, verbosity=0)
    existing = Patient.objects.count()
    if existing < patients:
        print(f"Génération de {patients - existing} patients synthétiques ({connection.vendor})…", flush=True)
        generate_practice(patients=patients - existing, seed=seed + existing)
    practice = Practice.objects.first() or Practice.objects.create(
        name="MSP des Lilas (synthétique)", kind=Practice.Kind.MSP, finess="350099991", activity_sector="SA52"
    )
    doctors = list(User.objects.filter(role=Role.MEDECIN, rpps__gt="").order_by("pk"))
    if not doctors:
        doctors = [
            User.objects.create_user(
                username=f"bench.dr{i}",
                role=Role.MEDECIN,
                first_name=first,
                last_name=last,
                rpps=f"8997009{i:04d}",
                profession_code="10",
                specialty_code="SM54",
            )
            for i, (first, last) in enumerate((("Claire", "MARTIN"), ("Hugo", "BERNARD")), start=1)
        ]
    with_ald = set(Ald.objects.order_by().values_list("patient_id", flat=True))
    todo = list(Patient.objects.exclude(pk__in=with_ald).order_by("pk").values_list("pk", flat=True)[:patients])
    if not todo:
        print(f"Base : {len(with_ald)} patients en ALD déjà présents ({connection.vendor}), cabinet {practice}.")
        return
    print(f"Dossiers cliniques pour {len(todo)} patients…", flush=True)
    started = time.monotonic()
    rng = random.Random(seed)
    today = dt.date.today()

    def ago(years: float) -> dt.date:
        return today - dt.timedelta(days=int(years * 365))

    rows: dict[type, list] = {}  # type: ignore[type-arg]

    def add(obj: object) -> None:
        rows.setdefault(type(obj), []).append(obj)

    for start in range(0, len(todo), 500):
        rows.clear()
        for pk in todo[start : start + 500]:
            Patient.objects.filter(pk=pk).update(medecin_traitant=rng.choice(doctors))
            actives = rng.sample(PROBLEMS, rng.randint(2, 4))
            for label, code in actives:
                add(rec.Problem(patient_id=pk, label=label, cim10_code=code, onset=ago(rng.uniform(1, 15))))
            for label, code in rng.sample(HISTORY, 2):
                onset = ago(rng.uniform(5, 20))
                add(
                    rec.Problem(
                        patient_id=pk,
                        label=label,
                        cim10_code=code,
                        status="resolved",
                        onset=onset,
                        resolved_on=onset + dt.timedelta(days=30),
                    )
                )
                add(rec.History(patient_id=pk, kind="medical", label=label, cim10_code=code, date=onset))
            for label, code in rng.sample(SURGERY, rng.randint(0, 2)):
                add(
                    rec.History(
                        patient_id=pk, kind="surgical", label=label, ccam_code=code, date=ago(rng.uniform(2, 30))
                    )
                )
            add(rec.FamilyHistory(patient_id=pk, relation="MTH", label="Cancer du sein", cim10_code="C50.9"))
            add(rec.FamilyHistory(patient_id=pk, relation="FTH", label="Infarctus du myocarde", cim10_code="I21.9"))
            if rng.random() < 0.6:
                add(
                    rec.Allergy(
                        patient_id=pk,
                        agent_kind="drug",
                        agent_label="Amoxicilline",
                        agent_code="60234100",
                        reaction="Urticaire",
                        severity=rng.choice("LMH"),
                        onset=ago(rng.uniform(1, 20)),
                    )
                )
            else:
                add(rec.AllergyStatement(patient_id=pk, none_known=True))
            add(rec.ProfessionalRisk(patient_id=pk, label="Travail de nuit"))
            add(
                rec.Lifestyle(
                    patient_id=pk, kind="74011-8", value="", quantity=Decimal(rng.randint(5, 40)), unit="{pack}/a"
                )
            )
            add(rec.Lifestyle(patient_id=pk, kind="74013-4", value="2 verres par jour"))
            add(rec.VigilancePoint(patient_id=pk, text="Risque de chute, vit seul(e) & hypoglycémies"))
            for label, cis, atc, unit, route, reason in rng.sample(DRUGS, rng.randint(3, 6)):
                add(
                    rec.LongTermTreatment(
                        patient_id=pk,
                        drug_label=label,
                        cis_code=cis,
                        atc_code=atc,
                        dose_quantity=Decimal(rng.choice((1, 2, 20))),
                        dose_unit=unit,
                        route_code=route,
                        frequency="matin et soir",
                        start=ago(rng.uniform(0.5, 10)),
                        reason_cim10=reason,
                    )
                )
            add(rec.Vital(patient_id=pk, kind="29463-7", value=Decimal("72.5"), unit="kg"))
            for label, code in actives[: rng.randint(1, 2)]:
                add(Ald(patient_id=pk, label=label, cim10_codes=code, start=ago(rng.uniform(1, 10))))
        with transaction.atomic():
            for model, objects in rows.items():
                model.objects.bulk_create(objects, batch_size=1000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(f"Dossiers écrits en {time.monotonic() - started:.1f} s.")


def bench_generation(sample: int, seed: int) -> None:
    from django.utils import timezone

    from caducee.accounts.models import Practice, Role, User
    from caducee.documents.cda.header import DocumentIds
    from caducee.documents.cda.vsm import build_vsm
    from caducee.patients.models import Ald, Patient
    from caducee.record.selectors import record_summary

    practice = Practice.objects.get()
    first = User.objects.filter(role=Role.MEDECIN).order_by("pk").first()
    pks = list(Ald.objects.order_by().values_list("patient_id", flat=True).distinct())
    chosen = random.Random(seed).sample(pks, min(sample, len(pks)))
    patients = list(Patient.objects.filter(pk__in=chosen).select_related("identity", "medecin_traitant"))
    ids = DocumentIds("1.2.250.1.999.1.1", "1", "1.2.250.1.999.1.1", "1", 1)
    now = timezone.now()
    for patient in patients[:10]:  # warm-up
        build_vsm(summary=record_summary(patient), ids=ids, practice=practice, author=first, effective_time=now)  # type: ignore[arg-type]
    reads: list[float] = []
    builds: list[float] = []
    sizes: list[int] = []
    for patient in patients:
        author = patient.medecin_traitant or first
        t0 = time.perf_counter()
        summary = record_summary(patient)
        t1 = time.perf_counter()
        xml = build_vsm(summary=summary, ids=ids, practice=practice, author=author, effective_time=now)  # type: ignore[arg-type]
        t2 = time.perf_counter()
        reads.append((t1 - t0) * 1000)
        builds.append((t2 - t1) * 1000)
        sizes.append(len(xml))
    totals = [r + b for r, b in zip(reads, builds, strict=True)]
    print(f"\n1. Génération d'un VSM (sans schématrons), {len(patients)} patients en ALD — ms")
    print(f"   {'':<24}{'médiane':>9}{'p95':>9}{'max':>9}")
    for name, values in (("lecture (record_summary)", reads), ("XML (build_vsm)", builds), ("total", totals)):
        print(f"   {name:<24}{statistics.median(values):>9.2f}{percentile(values, 95):>9.2f}{max(values):>9.2f}")
    verdict = "OK" if percentile(totals, 95) < TARGET_VSM_MS else "AU-DESSUS"
    print(
        f"   cible p95 < {TARGET_VSM_MS:.0f} ms : {verdict} ; taille médiane {statistics.median(sizes) / 1024:.0f} Kio"
    )


def bench_bulk(validate: int) -> None:
    from django.db import connection

    from caducee.patients.models import Ald

    count = Ald.objects.order_by().values("patient_id").distinct().count()
    out_dir = Path(tempfile.mkdtemp(prefix="bench-vsm-"))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src")
    command = [sys.executable, "-m", "caducee.cli", "vsm", "--ald", "--out-dir", str(out_dir)]
    connection.close()  # SQLite: let the child have the database to itself
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    files = sorted(out_dir.glob("*.xml"))
    print(f"\n2. caducee vsm --ald ({count} patients en ALD, {connection.vendor})")
    print(f"   {result.stdout.strip()}")
    if result.returncode:
        print(f"   code de sortie {result.returncode} : {result.stderr.strip()[-500:]}")
    skipped = result.stderr.count("ignoré")
    print(
        f"   {len(files)} fichiers, {skipped} patients ignorés ; durée {elapsed:.1f} s (cible < {TARGET_BULK_S:.0f} s)"
    )
    print(f"   mémoire résidente maximale du processus : {peak_mb:.0f} Mo (cible < {TARGET_RSS_MB:.0f} Mo)")
    if files:
        print(f"   débit : {len(files) / elapsed:.0f} VSM/s, {elapsed / len(files) * 1000:.1f} ms par patient")
    if validate and files:
        from caducee.documents.validation import CdaValidator

        t0 = time.perf_counter()
        validator = CdaValidator()
        validator.precompile()
        ready = time.perf_counter() - t0
        chosen = random.Random(0).sample(files, min(validate, len(files)))
        t1 = time.perf_counter()
        bad = [path.name for path in chosen if not validator.validate(path.read_bytes()).is_valid]
        per = (time.perf_counter() - t1) / len(chosen)
        print(
            f"\n3. Validation CI-SIS (XSD + 5 profils + schématron VSM) de {len(chosen)} fichiers tirés au sort : "
            f"{len(chosen) - len(bad)} conformes, {len(bad)} non conformes {bad[:3]} "
            f"(validateur prêt en {ready:.1f} s, {per * 1000:.0f} ms par document)"
        )
    shutil.rmtree(out_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--sample", type=int, default=200, help="patients timed one by one")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validate", type=int, default=20, help="output files checked by the CI-SIS validator")
    args = parser.parse_args()
    _setup()
    ensure_practice(args.patients, args.seed)
    bench_generation(args.sample, args.seed)
    bench_bulk(args.validate)


if __name__ == "__main__":
    main()
