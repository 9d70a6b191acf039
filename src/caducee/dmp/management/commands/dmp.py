"""`caducee dmp list|check --ins MATRICULE [--json] [--user IDENTIFIANT]`: the patient's DMP from the command line.

* `check`: TD0.2 (test of existence and authorization), recorded like the chart does (`DmpAccess`); the identity
  divergence is reported by trait name, never with the DMP's values (RG_0320).
* `list`: TD0.2 first (SC.DMP/CONF.01), then TD3.1 FindDocuments (Approved documents); `--json` prints a list of
  objects (uniqueId, entryUUID, title, typeCode, classCode, formatCode, author, authorNationalId, authorInstitution,
  creationTime, status, confidentiality). When this professional has no valid authorization, TD0.3 is asked first
  (UX.05) unless the patient refused consultation locally (`DmpConsent.consult_consent` recorded as False, CONF.09)
  or blocked the professional (INTERDITE): the command is the practice's own tool for its own patients, run by
  someone who has just seen the patient.

The professional: `--user`, else the patient's médecin traitant when a doctor with a national id, else the first
active doctor of the practice with a national id. Only a QUAL identity is queried (R28). Every call is audited.
Errors are plain French on stderr with a non-zero exit code.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from caducee.accounts.models import Role, User
from caducee.core.dates import french_date
from caducee.core.dbcheck import ensure_migrated
from caducee.dmp.api import DmpDocument
from caducee.dmp.metadata import author_label, xds_datetime
from caducee.dmp.models import DmpAccess
from caducee.dmp.services import DmpServiceError, dmp_check, dmp_find_documents
from caducee.patients.models import Patient


def document_json(doc: DmpDocument) -> dict[str, Any]:
    created = xds_datetime(doc.creation_time)
    return {
        "uniqueId": doc.unique_id,
        "entryUUID": doc.entry_uuid,
        "title": doc.title,
        "typeCode": doc.type_code.code,
        "classCode": doc.class_code.code,
        "formatCode": doc.format_code.code,
        "author": doc.author_person,
        "authorNationalId": doc.author_national_id,
        "authorInstitution": doc.author_institution,
        "creationTime": created.isoformat() if created else doc.creation_time,
        "status": doc.status.rsplit(":", 1)[-1],
        "confidentiality": list(doc.confidentiality),
    }


def status_json(access: DmpAccess) -> dict[str, Any]:
    return {
        "exists": access.exists,
        "active": access.active,
        "authorization": access.authorization,
        "authorizationUntil": access.authorization_until.isoformat() if access.authorization_until else None,
        "closedOn": access.closed_on.isoformat() if access.closed_on else None,
        "closingReason": access.closing_reason,
        "medecinTraitant": access.medecin_traitant,
        "mesAttached": access.mes_attached,
        "identityDivergence": access.divergence,
    }


class Command(BaseCommand):
    help = "Interroge le DMP d'un patient (test d'existence, liste des documents)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{list,check}")
        for name, text in (("list", "liste des documents (TD3.1)"), ("check", "existence et autorisation (TD0.2)")):
            cmd = sub.add_parser(name, help=text)
            cmd.add_argument("--ins", required=True, metavar="MATRICULE", help="matricule INS du patient")
            cmd.add_argument("--json", action="store_true", help="sortie JSON")
            cmd.add_argument("--user", metavar="IDENTIFIANT", help="professionnel appelant (identifiant de connexion)")

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_migrated(auto=False)
        patient = self._patient(options["ins"])
        user = self._user(options.get("user"), patient)
        try:
            access = dmp_check(actor=user, patient=patient, unless_refused=options["action"] == "list")
            if options["action"] == "check":
                self._print_status(access, as_json=options["json"])
                return
            documents = dmp_find_documents(actor=user, patient=patient)
        except (DmpServiceError, PermissionDenied) as exc:
            raise CommandError(str(exc) or "Accès refusé.") from exc
        if options["json"]:
            self.stdout.write(json.dumps([document_json(d) for d in documents], ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"{len(documents)} document(s) dans le DMP de {patient.identity}")
        for doc in documents:
            created = xds_datetime(doc.creation_time)
            when = f"{french_date(created)}" if created else doc.creation_time
            self.stdout.write(f"  {when}  {doc.title} — {doc.type_code.display} — {author_label(doc.author_person)}")

    # --- helpers ----------------------------------------------------------------------------------------------

    def _patient(self, matricule: str) -> Patient:
        matricule = matricule.strip()
        patients = list(
            Patient.objects.select_related("identity", "medecin_traitant")
            .filter(identity__ins_matricule=matricule)
            .order_by("pk")[:2]
        )
        if not patients:
            raise CommandError(f"Aucun patient n'a le matricule INS « {matricule} ».")
        if len(patients) > 1:
            raise CommandError(f"Plusieurs patients ont le matricule INS « {matricule} » : doublon à résoudre.")
        return patients[0]

    def _user(self, username: str | None, patient: Patient) -> User:
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(f"Utilisateur « {username} » introuvable ou inactif.")
            return user
        doctor = patient.medecin_traitant
        if doctor is not None and doctor.is_active and doctor.role == Role.MEDECIN and doctor.national_id:
            return doctor
        first = (
            User.objects.filter(role=Role.MEDECIN, is_active=True)
            .exclude(Q(rpps="") & Q(adeli=""))
            .order_by("pk")
            .first()
        )
        if first is None:
            raise CommandError("Aucun médecin actif avec un numéro RPPS ou ADELI : indiquez --user.")
        return first

    def _print_status(self, access: DmpAccess, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(status_json(access), ensure_ascii=False, indent=2))
            return
        if not access.exists:
            self.stdout.write("Le patient n'a pas de DMP.")
            return
        state = "ouvert" if access.active else f"fermé ({access.closing_reason or 'motif non précisé'})"
        until = f" jusqu'au {french_date(access.authorization_until)}" if access.authorization_until else ""
        self.stdout.write(f"DMP {state} ; autorisation : {access.authorization}{until}")
        if access.divergence:
            self.stdout.write(access.divergence)
