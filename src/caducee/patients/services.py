"""Patient services: creation (with or without the carte Vitale), audited opening of a record, and the upkeep of
the administrative card (issue 13 §1): contact data and médecin traitant, each change audited (field names) and kept
in the card's history (previous values), behind an optimistic check on `Patient.version`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Role
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.identity.models import CollectionMethod
from caducee.identity.services import identity_create
from caducee.identity.traits import Traits
from caducee.patients.contact import CONTACT_FIELDS, contact_clean
from caducee.patients.correspondents import medecin_traitant_store
from caducee.patients.errors import PatientConflict, PatientDataError
from caducee.patients.history import contact_change_record
from caducee.patients.models import ContactChange, ContactPreference, Correspondent, Patient
from caducee.patients.selectors import patient_get

# Who may be a médecin traitant among the practice's users: a médecin (a remplaçant replaces one, an interne is
# not yet a doctor).
MEDECIN_TRAITANT_ROLES = (Role.MEDECIN,)


def patient_create(
    *,
    actor: Any,
    traits: Traits,
    contact: dict[str, str] | None = None,
    vitale_nir_od: str = "",
    vitale_rang: str = "",
    request: HttpRequest | None = None,
) -> Patient:
    check_permission(actor, Perm.PATIENT_ADMIN)
    contact = contact_clean(contact or {})  # PatientDataError before anything is written
    method = CollectionMethod.CV if vitale_nir_od else CollectionMethod.SM
    with transaction.atomic():
        identity = identity_create(actor=actor, traits=traits, collection_method=method, request=request)
        patient = Patient.objects.create(
            identity=identity,
            vitale_nir_od=vitale_nir_od,
            vitale_rang=vitale_rang,
            vitale_read_at=timezone.now() if vitale_nir_od else None,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            **contact,
        )
        audit_record(
            actor=actor,
            action="patient.create",
            object_type="patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            request=request,
        )
    return patient


def patient_open(*, actor: Any, patient_id: int, request: HttpRequest | None = None) -> Patient:
    """Every read of a patient record is audited (who, when, which record)."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    patient = patient_get(patient_id)
    audit_record(
        actor=actor,
        action="patient.read",
        object_type="patient",
        object_id=patient.pk,
        patient_id=patient.pk,
        request=request,
    )
    return patient


def _shown_contact(patient: Patient, name: str) -> str:
    value = getattr(patient, name)
    if name == "contact_preference":
        return ContactPreference(value).label if value in ContactPreference.values else ""
    return str(value or "")


def patient_update_contact(
    *,
    actor: Any,
    patient: Patient,
    contact: dict[str, str],
    version: int,
    request: HttpRequest | None = None,
) -> Patient:
    """Change the patient's contact data (address, phones, e-mail, contact preference and instructions).

    `version`: the `Patient.version` the form showed; someone else's save since then raises PatientConflict and
    nothing is written (`UPDATE … WHERE version = seen`, as for the identity). Refused values raise PatientDataError
    (one French message per field). The audit names the fields changed, not their values; the card's history keeps
    the previous values (issue 13 §1). Nothing changed: nothing written, nothing audited."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    current = {name: getattr(patient, name) for name in CONTACT_FIELDS}
    values = contact_clean(contact, current=current)
    changed = [name for name in CONTACT_FIELDS if name in values and current[name] != values[name]]
    if not changed:  # what was typed is what is stored (whoever saved it): nothing to write, nothing lost
        return patient
    with transaction.atomic():
        rows = Patient.objects.filter(pk=patient.pk, version=version)
        if not rows.update(version=F("version") + 1, **{name: values[name] for name in changed}):
            raise PatientConflict()
        previous = {name: _shown_contact(patient, name) for name in changed}
        for name in changed:
            setattr(patient, name, values[name])
        patient.version = version + 1
        contact_change_record(
            actor=actor,
            patient=patient,
            kind=ContactChange.Kind.CONTACT,
            fields=changed,
            previous=previous,
            request=request,
        )
    return patient


def patient_set_medecin_traitant(
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
) -> Patient:
    """Record who the médecin traitant is — a doctor of the practice, an outside correspondent, or a name only —,
    since when, and whether the déclaration de choix was made to the Assurance Maladie, and when (issue 13 §1; the
    online declaration itself is a téléservice, not this). The VSM and the IPS write the declaration date as the
    médecin traitant participant's time.

    Refused choices raise PatientDataError (French, per field); a save by someone else since the form was shown
    raises PatientConflict. The correspondent link "médecin traitant" follows the card."""
    check_permission(actor, Perm.PATIENT_ADMIN)
    external = " ".join((external or "").split())
    today = timezone.localdate()
    errors: dict[str, str] = {}
    chosen = [c for c in (doctor, correspondent, external or None) if c is not None]
    if len(chosen) > 1:
        errors["choice"] = "Choisissez un seul médecin traitant : un médecin du cabinet, un correspondant ou un nom."
    if doctor is not None and (not doctor.is_active or doctor.role not in MEDECIN_TRAITANT_ROLES):
        errors["doctor"] = "Le médecin traitant doit être un médecin du cabinet en activité."
    limit = Patient._meta.get_field("medecin_traitant_externe").max_length or 200
    if len(external) > limit:
        errors["external"] = f"{limit} caractères au maximum (vous en avez saisi {len(external)})."
    if since is not None and since > today:
        errors["since"] = "La date de début ne peut pas être dans le futur."
    if declared and not chosen:
        errors["declared"] = "Choisissez d'abord le médecin traitant déclaré."
    elif declared and declared_on is None:
        errors["declared_on"] = "Indiquez la date de la déclaration."
    elif declared and declared_on is not None and declared_on > today:
        errors["declared_on"] = "La date de la déclaration ne peut pas être dans le futur."
    if errors:
        raise PatientDataError(errors)
    medecin_traitant_store(
        actor=actor,
        patient=patient,
        version=version,
        doctor=doctor,
        correspondent=correspondent,
        external=external,
        since=since,
        declared=declared,
        declared_on=declared_on,
        request=request,
    )
    return patient
