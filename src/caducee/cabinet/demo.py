"""Demo data: an MSP, its users, the INSi test personas as new patients, and a synthetic practice.

All data here is fictitious. The INSi personas are the CNAM qualification-service test identities
(reference/ins/test_identities_insi.csv), answered by the INSi sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from caducee.accounts.models import Practice, Role, User
from caducee.documents.letters.services import letters_seed_defaults
from caducee.identity.cog import ensure_demo_places
from caducee.identity.models import DEFAULT_ID_DOCUMENTS
from caducee.identity.traits import clean_traits
from caducee.mss.demo import seed_mss_demo
from caducee.patients.models import Patient
from caducee.patients.services import patient_create
from caducee.patients.synthetic import generate_practice
from caducee.record.demo import seed_record_demo

DEMO_PASSWORD = "Demo-Caducee-2026"  # noqa: S105 — printed by `caducee demo`; demo databases only


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str
    profession_code: str = ""
    specialty_code: str = ""
    rpps: str = ""
    adeli: str = ""
    identity_superuser: bool = False


# RPPS numbers in the 899700… range used by ANS test professionals (no real person).
DEMO_USERS = (
    DemoUser("dr.martin", "Claire", "MARTIN", Role.MEDECIN, "10", "SM54", rpps="89970012345"),
    DemoUser("dr.bernard", "Hugo", "BERNARD", Role.MEDECIN, "10", "SM54", rpps="89970023456"),
    DemoUser("inf.petit", "Sophie", "PETIT", Role.PARAMEDICAL, "60", adeli="699912345"),
    DemoUser("sec.durand", "Lucie", "DURAND", Role.SECRETAIRE, identity_superuser=True),
    DemoUser("admin", "Paul", "ADMIN", Role.ADMINISTRATEUR),
)

# INSi test personas entered as a secretary would, before any INSi call (status PROV).
DEMO_PERSONAS = (
    {
        "birth_name": "ADRTROIS",
        "first_given_name": "DOMINIQUE",
        "birth_date": "26/02/1997",
        "sex": "F",
        "birthplace_cog": "2A020",
    },
    {
        "birth_name": "ADRUN",
        "first_given_name": "ZOE",
        "birth_date": "31/12/1975",
        "sex": "F",
        "birthplace_cog": "63220",
    },
    {
        "birth_name": "ADRTROIS",
        "first_given_name": "TOUSSAINT",
        "birth_date": "01/01/1960",
        "sex": "M",
        "birthplace_cog": "2B020",
    },
    {
        "birth_name": "ECETINSI",
        "first_given_name": "PIERRE-ALAIN",
        "birth_given_names": "PIERRE-ALAIN MURIEL FLORIANT",
        "birth_date": "14/07/2009",
        "sex": "M",
        "birthplace_cog": "63220",
    },
    {
        "birth_name": "PROVISOIRE",
        "first_given_name": "MATRICULE",
        "birth_date": "01/07/2009",
        "sex": "M",
        "birthplace_cog": "63220",
    },
    {
        "birth_name": "NESSI",
        "first_given_name": "MICHELANGELO",
        "birth_date": "07/08/2010",
        "sex": "M",
        "birthplace_cog": "63220",
    },
    {
        "birth_name": "TCHITCHI",
        "first_given_name": "OLA",
        "birth_given_names": "OLA CATARINA",
        "birth_date": "21/06/1936",
        "sex": "F",
        "birthplace_cog": "63220",
    },
    {
        "birth_name": "HOUILLES",
        "first_given_name": "PIERRE",
        "birth_given_names": "PIERRE PAUL JACQUES",
        "birth_date": "27/01/1993",
        "sex": "M",
        "birthplace_cog": "",
    },
    {
        "birth_name": "CORSE",
        "first_given_name": "ANTHONY",
        "birth_date": "02/03/1980",
        "sex": "M",
        "birthplace_cog": "2B020",
    },
    {
        "birth_name": "D'ARTAGNAN DE L'HERAULT",
        "first_given_name": "PIERRE-ALAIN",
        "birth_date": "17/06/2001",
        "sex": "M",
        "birthplace_cog": "",
    },
)


def seed_demo(*, synthetic_patients: int = 40) -> dict[str, object]:
    """Load the demo data into the configured (migrated) database. Idempotent on users and practice."""
    ensure_demo_places()  # issue 13 §1: the birthplaces searched by name in the identity forms
    with transaction.atomic():
        practice, _ = Practice.objects.update_or_create(
            pk=1,
            defaults={
                "kind": Practice.Kind.MSP,
                "name": "Maison de santé des Tilleuls",
                "finess": "690099991",
                "siret": "99999999900018",
                "address_line": "12 rue des Tilleuls",
                "postal_code": "69003",
                "city": "LYON",
                "phone": "04 78 00 00 00",
                "activity_sector": "SA08",
                "oid_root": "1.2.250.1.999.1",
                "is_sandbox": True,
                "accepted_id_documents": DEFAULT_ID_DOCUMENTS,
            },
        )
        users = {}
        for u in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=u.username,
                defaults={
                    "first_name": u.first_name,
                    "last_name": u.last_name,
                    "role": u.role,
                    "profession_code": u.profession_code,
                    "specialty_code": u.specialty_code,
                    "rpps": u.rpps,
                    "adeli": u.adeli,
                    "is_identity_superuser": u.identity_superuser,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            users[u.username] = user
        secretary = users["sec.durand"]
        existing = set(Patient.objects.values_list("identity__birth_name", "identity__first_given_name"))
        created_personas = 0
        for persona in DEMO_PERSONAS:
            traits = clean_traits(persona)
            if (traits.birth_name, traits.first_given_name) in existing:
                continue
            patient = patient_create(actor=secretary, traits=traits)
            patient.medecin_traitant = users["dr.martin"]
            patient.save(update_fields=["medecin_traitant"])
            created_personas += 1
    synthetic = 0
    if synthetic_patients:
        synthetic = generate_practice(patients=synthetic_patients, seed=7)
    letters_seed_defaults()
    records = seed_record_demo()
    seed_mss_demo()
    return {
        "practice": practice,
        "users": users,
        "personas": created_personas,
        "synthetic": synthetic,
        "records": records,
    }
