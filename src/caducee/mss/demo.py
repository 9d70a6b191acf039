"""Demo MSSanté data: the demo professionals' mailboxes, the practice's organisational one, and an outside
correspondent (fictitious; every address is in the sandbox operator's `demo.mssante.fr` domain)."""

from __future__ import annotations

from django.db import transaction

from caducee.accounts.models import User
from caducee.mss.models import Mailbox, MailboxKind
from caducee.patients.models import Correspondent, CorrespondentRole, Patient, PatientCorrespondent

DEMO_DOMAIN = "demo.mssante.fr"
DEMO_MAILBOXES = {
    "dr.martin": f"claire.martin@{DEMO_DOMAIN}",
    "dr.bernard": f"hugo.bernard@{DEMO_DOMAIN}",
}
PRACTICE_MAILBOX = f"secretariat.tilleuls@{DEMO_DOMAIN}"
OUTSIDE_CARDIOLOGIST = {
    "national_id": "899700456789",
    "civility": "Dr",
    "family_name": "LEROY",
    "given_name": "Anne",
    "profession": "Médecin",
    "specialty": "Cardiologie et maladies vasculaires",
    "address_line": "4 place Bellecour",
    "postal_code": "69002",
    "city": "LYON",
    "mss_address": f"anne.leroy@{DEMO_DOMAIN}",
    "source": "annuaire",
}


def seed_mss_demo() -> int:
    """Create the demo mailboxes (idempotent); link the cardiologist to the first ALD patients. Returns how many
    mailboxes exist afterwards."""
    with transaction.atomic():
        for username, address in DEMO_MAILBOXES.items():
            user = User.objects.filter(username=username).first()
            if user is None:
                continue
            Mailbox.objects.update_or_create(
                address=address,
                defaults={
                    "kind": MailboxKind.PER,
                    "owner": user,
                    "display_name": f"{user.last_name} {user.first_name}",
                },
            )
        Mailbox.objects.update_or_create(
            address=PRACTICE_MAILBOX,
            defaults={"kind": MailboxKind.ORG, "owner": None, "display_name": "Secrétariat MSP des Tilleuls"},
        )
        cardiologist, _ = Correspondent.objects.get_or_create(
            mss_address=OUTSIDE_CARDIOLOGIST["mss_address"], defaults=OUTSIDE_CARDIOLOGIST
        )
        for patient in Patient.objects.filter(alds__isnull=False).distinct().order_by("id")[:5]:
            PatientCorrespondent.objects.get_or_create(
                patient=patient, correspondent=cardiologist, role=CorrespondentRole.SPECIALISTE
            )
        # In an MSP colleagues write to each other: dr.bernard is the médecin traitant of a few qualified patients,
        # so dr.martin sees him proposed (and pre-ticked for a letter) when sending from their charts.
        bernard = User.objects.filter(username="dr.bernard").first()
        if bernard is not None and not Patient.objects.filter(medecin_traitant=bernard).exists():
            for patient in Patient.objects.filter(identity__status="QUAL", alds__isnull=True).order_by("id")[:3]:
                patient.medecin_traitant = bernard
                patient.save(update_fields=["medecin_traitant"])
    return Mailbox.objects.count()
