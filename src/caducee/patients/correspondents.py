"""The practice's address book: correspondents and their links to patients (issue 5 §5; ANNU/GEN.01–03).

Services (writes, keyword-only, audited; the reads are in `patients.selectors`). Correspondents are administrative
data: every write needs `Perm.PATIENT_ADMIN` (doctors, paramedics, assistants and secretaries have it; the practice
administrator does not), like the rest of the patient's administrative record.

- A correspondent is created by hand, from a directory entry (public extraction or Annuaire Santé FHIR), or from a
  received message's sender in one click (ANNU/GEN.03: "ajouter l'expéditeur aux correspondants du patient").
  The MSSanté address is the natural key: adding the same address twice gives the same correspondent, whose blank
  fields are completed from the directory but whose hand-entered values are kept.
- A patient has at most one médecin traitant among its correspondents: linking a new one replaces the previous
  link (both audited). Other roles accumulate. The médecin traitant link and the patient's card agree: linking a
  correspondent as médecin traitant makes him the card's médecin traitant (`Patient.medecin_traitant_correspondent`,
  the start date and the declaration cleared: they were the previous doctor's), removing that link clears it, and
  `medecin_traitant_store` (behind `patients.services.patient_set_medecin_traitant`) keeps the link as the card says.
- A patient's own mailbox (`…@patient.mssante.fr`, MSS Citoyenne) is never a correspondent.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.core.dates import french_date
from caducee.patients.errors import PatientConflict
from caducee.patients.history import contact_change_record
from caducee.patients.models import ContactChange, Correspondent, CorrespondentRole, Patient, PatientCorrespondent

PATIENT_DOMAIN = "patient.mssante.fr"
EDITABLE_FIELDS = (
    "national_id",
    "civility",
    "family_name",
    "given_name",
    "organisation",
    "profession",
    "specialty",
    "address_line",
    "postal_code",
    "city",
    "phone",
    "mss_address",
)
_CIVILITIES = {"DR": "Dr", "PR": "Pr", "M": "M.", "MME": "Mme", "MLLE": "Mme"}
_MAX_LENGTH = {f.name: f.max_length for f in Correspondent._meta.concrete_fields if getattr(f, "max_length", None)}


def _clean_address(address: str) -> str:
    address = (address or "").strip().lower()
    if not address:
        return ""
    try:
        validate_email(address)
    except ValidationError as exc:
        raise ValidationError(f"Adresse MSSanté invalide : {address}.") from exc
    if address.endswith("@" + PATIENT_DOMAIN):
        raise ValidationError("Une messagerie de patient (Mon espace santé) ne peut pas être un correspondant.")
    return address


def _clean_fields(fields: dict[str, Any]) -> dict[str, str]:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"unknown correspondent fields: {sorted(unknown)}")
    values = {name: " ".join(str(value or "").split())[: _MAX_LENGTH.get(name, 300)] for name, value in fields.items()}
    if "mss_address" in values:
        values["mss_address"] = _clean_address(values["mss_address"])
    return values


def _check_identity(values: dict[str, str]) -> None:
    if not (values.get("family_name") or values.get("organisation") or values.get("mss_address")):
        raise ValidationError("Un correspondant a au moins un nom, une structure ou une adresse MSSanté.")


# -- services ----------------------------------------------------------------------------------------------------


def correspondent_create(
    *, actor: Any, source: str = "manuel", request: HttpRequest | None = None, **fields: Any
) -> Correspondent:
    """A correspondent entered by hand (or from another source); the MSSanté address is validated."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    values = _clean_fields(fields)
    _check_identity(values)
    with transaction.atomic():
        correspondent = Correspondent.objects.create(source=source, **values)
        audit_record(
            actor=actor,
            action="correspondent.create",
            object_type="correspondent",
            object_id=correspondent.pk,
            detail={"source": source, "mss_address": correspondent.mss_address},
            request=request,
        )
    return correspondent


def correspondent_update(
    *, actor: Any, correspondent: Correspondent, request: HttpRequest | None = None, **fields: Any
) -> Correspondent:
    """Change some fields of a correspondent; the audit names the fields changed."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    values = _clean_fields(fields)
    changed = sorted(name for name, value in values.items() if getattr(correspondent, name) != value)
    if not changed:
        return correspondent
    for name in changed:
        setattr(correspondent, name, values[name])
    _check_identity({name: getattr(correspondent, name) for name in EDITABLE_FIELDS})
    with transaction.atomic():
        correspondent.save(update_fields=changed)
        audit_record(
            actor=actor,
            action="correspondent.update",
            object_type="correspondent",
            object_id=correspondent.pk,
            detail={"fields": ",".join(changed)},
            request=request,
        )
    return correspondent


class DirectoryRecord(Protocol):
    """An entry of the MSSanté directory (`mss.models.DirectoryEntry`, or the Annuaire Santé API's): what a
    correspondent takes from it. Defined here so the patients app needs nothing of the apps above it."""

    national_id: str
    civility: str
    family_name: str
    given_name: str
    organisation: str
    profession: str
    specialty: str
    address_line: str
    postal_code: str
    city: str
    address: str


def _directory_values(entry: DirectoryRecord) -> dict[str, str]:
    civility = _CIVILITIES.get(entry.civility.strip().upper().rstrip("."), entry.civility)
    return {
        "national_id": entry.national_id,
        "civility": civility,
        "family_name": entry.family_name,
        "given_name": entry.given_name,
        "organisation": entry.organisation,
        "profession": entry.profession,
        "specialty": entry.specialty,
        "address_line": entry.address_line,
        "postal_code": entry.postal_code,
        "city": entry.city,
        "mss_address": entry.address,
    }


def correspondent_from_directory(
    *, entry: DirectoryRecord, actor: Any = None, request: HttpRequest | None = None
) -> Correspondent:
    """The correspondent for a directory entry: the existing one with that MSSanté address (its blank fields filled
    from the directory), or a new one (source "annuaire"). With an `actor`, permission checked and audited."""
    if actor is not None:
        check_permission(actor, Perm.PATIENT_ADMIN)
    values = _clean_fields(_directory_values(entry))
    with transaction.atomic():
        existing = Correspondent.objects.select_for_update().filter(mss_address=values["mss_address"]).first()
        if existing is None:
            correspondent = Correspondent.objects.create(source="annuaire", **values)
            action = "correspondent.create"
        else:
            blanks = [name for name, value in values.items() if value and not getattr(existing, name)]
            for name in blanks:
                setattr(existing, name, values[name])
            if blanks:
                existing.save(update_fields=blanks)
            correspondent, action = existing, ("correspondent.update" if blanks else "")
        if action:
            audit_record(
                actor=actor,
                action=action,
                object_type="correspondent",
                object_id=correspondent.pk,
                detail={"source": "annuaire", "mss_address": correspondent.mss_address},
                request=request,
            )
    return correspondent


def correspondent_link(
    *,
    actor: Any,
    patient: Patient,
    correspondent: Correspondent,
    role: str = CorrespondentRole.AUTRE,
    request: HttpRequest | None = None,
) -> PatientCorrespondent:
    """Link a correspondent to a patient with a role (idempotent). A new médecin traitant replaces the previous."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    if role not in CorrespondentRole.values:
        raise ValidationError(f"Rôle de correspondant inconnu : {role}.")
    with transaction.atomic():
        if role == CorrespondentRole.MEDECIN_TRAITANT:
            previous = PatientCorrespondent.objects.filter(patient=patient, role=role).exclude(
                correspondent=correspondent
            )
            for link in previous.select_related("correspondent"):
                _unlink(actor=actor, link=link, request=request, reason="remplacé")
        link = _link(actor=actor, patient=patient, correspondent=correspondent, role=role, request=request)
        if role == CorrespondentRole.MEDECIN_TRAITANT and patient.medecin_traitant_correspondent_id != correspondent.pk:
            _medecin_traitant_fields(
                actor=actor, patient=patient, values=_mt_values(correspondent=correspondent), request=request
            )
    return link


def correspondent_join_care_team(
    *,
    actor: Any,
    patient: Patient,
    correspondent: Correspondent,
    role: str = CorrespondentRole.AUTRE,
    request: HttpRequest | None = None,
) -> PatientCorrespondent:
    """A colleague the user wrote to joins the patient's care team (issue 13 §1: offered again on the next send) —
    with `role`, unless he is already in the team with a precise role, which is kept (a referrer stays the
    referrer; « autre » gives way to the precise role)."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    existing = PatientCorrespondent.objects.filter(patient=patient, correspondent=correspondent).order_by("id").first()
    if existing is not None and (existing.role != CorrespondentRole.AUTRE or role == CorrespondentRole.AUTRE):
        return existing
    return correspondent_link(actor=actor, patient=patient, correspondent=correspondent, role=role, request=request)


def _link(
    *, actor: Any, patient: Patient, correspondent: Correspondent, role: str, request: HttpRequest | None
) -> PatientCorrespondent:
    link, created = PatientCorrespondent.objects.get_or_create(patient=patient, correspondent=correspondent, role=role)
    if created and role != CorrespondentRole.AUTRE:
        # A precise role replaces « autre » (e.g. a colleague written to, then recorded as the specialist): one row
        # per person in the care team.
        vague = PatientCorrespondent.objects.filter(
            patient=patient, correspondent=correspondent, role=CorrespondentRole.AUTRE
        )
        for other in vague:
            _unlink(actor=actor, link=other, request=request, reason=f"précisé : {link.get_role_display()}")
    if created:
        audit_record(
            actor=actor,
            action="correspondent.link",
            object_type="correspondent",
            object_id=correspondent.pk,
            patient_id=patient.pk,
            detail={"role": role},
            request=request,
        )
    return link


def _unlink(*, actor: Any, link: PatientCorrespondent, request: HttpRequest | None, reason: str = "") -> None:
    audit_record(
        actor=actor,
        action="correspondent.unlink",
        object_type="correspondent",
        object_id=link.correspondent_id,
        patient_id=link.patient_id,
        detail={"role": link.role, **({"raison": reason} if reason else {})},
        request=request,
    )
    link.delete()


# -- the médecin traitant on the patient's card -------------------------------------------------------------------

MT_FIELDS = (
    "medecin_traitant",
    "medecin_traitant_correspondent",
    "medecin_traitant_externe",
    "medecin_traitant_since",
    "medecin_traitant_declared",
    "medecin_traitant_declared_on",
)


def _mt_values(
    *,
    doctor: Any = None,
    correspondent: Correspondent | None = None,
    external: str = "",
    since: dt.date | None = None,
    declared: bool = False,
    declared_on: dt.date | None = None,
) -> dict[str, Any]:
    """The card's médecin traitant fields for one choice (a practice doctor, a correspondent or a typed name)."""
    if doctor is not None:
        external = ""
    elif correspondent is not None:
        external = str(correspondent)[: Patient._meta.get_field("medecin_traitant_externe").max_length]
    chosen = doctor is not None or correspondent is not None or bool(external)
    return {
        "medecin_traitant": doctor,
        "medecin_traitant_correspondent": correspondent,
        "medecin_traitant_externe": external,
        "medecin_traitant_since": since if chosen else None,
        "medecin_traitant_declared": declared and chosen,
        "medecin_traitant_declared_on": declared_on if declared and chosen else None,
    }


def _shown(patient: Patient, name: str) -> str:
    """A médecin traitant field as the history shows it."""
    if name in ("medecin_traitant", "medecin_traitant_correspondent", "medecin_traitant_externe"):
        value = getattr(patient, name)
        return str(value.display_name() if name == "medecin_traitant" and value else value or "")
    if name == "medecin_traitant_declared":
        return "oui" if patient.medecin_traitant_declared else "non"
    return french_date(getattr(patient, name))


def _medecin_traitant_fields(
    *,
    actor: Any,
    patient: Patient,
    values: dict[str, Any],
    version: int | None = None,
    request: HttpRequest | None = None,
) -> list[str]:
    """Write the card's médecin traitant fields (`UPDATE … WHERE version = seen` when `version` is given), with
    the history and the audit; returns the names of the fields changed."""
    changed = [name for name in MT_FIELDS if getattr(patient, name) != values[name]]
    if not changed:  # already so (whoever saved it): nothing to write, nothing lost
        return []
    previous = {name: _shown(patient, name) for name in changed}
    rows = Patient.objects.filter(pk=patient.pk)
    if version is not None:
        rows = rows.filter(version=version)
    if not rows.update(version=F("version") + 1, **{name: values[name] for name in changed}):
        raise PatientConflict()
    for name in changed:
        setattr(patient, name, values[name])
    patient.version = Patient.objects.values_list("version", flat=True).get(pk=patient.pk)
    contact_change_record(
        actor=actor,
        patient=patient,
        kind=ContactChange.Kind.MEDECIN_TRAITANT,
        fields=changed,
        previous=previous,
        request=request,
    )
    return changed


def medecin_traitant_store(
    *,
    actor: Any,
    patient: Patient,
    version: int,
    doctor: Any = None,
    correspondent: Correspondent | None = None,
    external: str = "",
    since: dt.date | None = None,
    declared: bool = False,
    declared_on: dt.date | None = None,
    request: HttpRequest | None = None,
) -> list[str]:
    """Record the médecin traitant on the card (checked by the caller) and keep the correspondents' médecin traitant
    link as the card says: the chosen correspondent linked with that role, any other such link removed."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    values = _mt_values(
        doctor=doctor,
        correspondent=correspondent,
        external=external,
        since=since,
        declared=declared,
        declared_on=declared_on,
    )
    with transaction.atomic():
        changed = _medecin_traitant_fields(
            actor=actor, patient=patient, values=values, version=version, request=request
        )
        others = PatientCorrespondent.objects.filter(patient=patient, role=CorrespondentRole.MEDECIN_TRAITANT)
        if correspondent is not None:
            others = others.exclude(correspondent=correspondent)
        for link in others.select_related("correspondent"):
            _unlink(actor=actor, link=link, request=request, reason="remplacé")
        if correspondent is not None:
            _link(
                actor=actor,
                patient=patient,
                correspondent=correspondent,
                role=CorrespondentRole.MEDECIN_TRAITANT,
                request=request,
            )
    return changed


def correspondent_unlink(
    *,
    actor: Any,
    patient: Patient,
    correspondent: Correspondent,
    role: str | None = None,
    request: HttpRequest | None = None,
) -> int:
    """Remove the correspondent's links to the patient (one role, or all); the correspondent itself stays in the
    address book. Returns how many links were removed."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    links = PatientCorrespondent.objects.filter(patient=patient, correspondent=correspondent)
    if role is not None:
        links = links.filter(role=role)
    removed = 0
    with transaction.atomic():
        for link in links:
            _unlink(actor=actor, link=link, request=request)
            removed += 1
            if link.role == CorrespondentRole.MEDECIN_TRAITANT and (
                patient.medecin_traitant_correspondent_id == correspondent.pk
            ):  # no longer the médecin traitant: the card says so too
                _medecin_traitant_fields(actor=actor, patient=patient, values=_mt_values(), request=request)
    return removed


_NAME_RE = re.compile(r"^(?:(?P<civ>dr|pr|docteur|professeur|m|mme|mlle)\.?\s+)?(?P<rest>.+)$", re.IGNORECASE)


def split_display_name(name: str) -> dict[str, str]:
    """ "Dr Anne LEROY" → civility Dr, given name Anne, family name LEROY: words in capitals are the nom (SC.MSS
    sender display rule "Civilité Prénom NOM"); without capitals, the last word."""
    name = " ".join(name.replace('"', " ").split())
    if not name:
        return {"civility": "", "given_name": "", "family_name": ""}
    match = _NAME_RE.match(name)
    civ = (match.group("civ") or "") if match else ""
    rest = match.group("rest") if match else name
    civility = {"docteur": "Dr", "professeur": "Pr"}.get(civ.lower(), _CIVILITIES.get(civ.upper(), civ))
    words = rest.split()
    upper = [w for w in words if w.isupper() and any(ch.isalpha() for ch in w)]
    if upper and len(upper) < len(words):
        family = " ".join(upper)
        given = " ".join(w for w in words if w not in upper)
    elif len(words) > 1:
        family, given = words[-1], " ".join(words[:-1])
    else:
        family, given = words[0], ""
    return {"civility": civility, "given_name": given, "family_name": family}


def correspondent_from_sender(
    *,
    actor: Any,
    patient: Patient,
    address: str,
    name: str = "",
    role: str = CorrespondentRole.AUTRE,
    directory_entry: DirectoryRecord | None = None,
    request: HttpRequest | None = None,
) -> PatientCorrespondent:
    """ANNU/GEN.03: the sender of a received message added to the patient's correspondents in one click.

    The address is looked up in the address book, then taken from the directory entry the caller found for it
    (`directory_entry`, whose data is richer than a display name); otherwise a correspondent is created from the
    display name (source "message")."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    address = _clean_address(address)
    if not address:
        raise ValidationError("Adresse de l'expéditeur manquante.")
    with transaction.atomic():
        correspondent = Correspondent.objects.filter(mss_address=address).first()
        if correspondent is None:
            if directory_entry is not None:
                correspondent = correspondent_from_directory(entry=directory_entry, actor=actor, request=request)
            else:
                correspondent = correspondent_create(
                    actor=actor, source="message", request=request, mss_address=address, **split_display_name(name)
                )
        return correspondent_link(actor=actor, patient=patient, correspondent=correspondent, role=role, request=request)
