"""The patient's contact data as typed in a form: checked once, in French, with the database's lengths (issue 13 §1
and §4). The same rules serve the creation form and the « Modifier les coordonnées » form."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from caducee.patients.errors import PatientDataError
from caducee.patients.models import ContactPreference, Patient

CONTACT_FIELDS = (
    "address_line",
    "postal_code",
    "city",
    "phone",
    "mobile_phone",
    "email",
    "contact_preference",
    "contact_note",
)
# The column lengths, read from the model so the form's maxlength and the check cannot drift from the database.
MAX_LENGTHS: dict[str, int] = {
    name: length for name in CONTACT_FIELDS if (length := getattr(Patient._meta.get_field(name), "max_length", None))
}
# Control characters (NUL included) and line breaks: nobody types them in a one-line field; PostgreSQL refuses NUL
# and XML 1.0 (every CDA) refuses the C0 controls.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_PHONE_CHARS = re.compile(r"^\+?[0-9 .\-()]+$")


def _one_line(value: object) -> str:
    return " ".join(_CONTROLS.sub(" ", str(value or "")).split())


def _phone_error(value: str) -> str | None:
    """French numbers have 10 digits (04 78 00 00 00); an international one starts with + and has 8 to 15."""
    if not value:
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    if not value.isascii() or not _PHONE_CHARS.match(value):
        return "Numéro invalide : des chiffres, espaces, points ou tirets (ex. 04 78 00 00 00 ou +33 6 12 34 56 78)."
    if value.startswith("+"):
        ok = 8 <= len(digits) <= 15
    else:
        ok = len(digits) == 10 and digits.startswith("0")
    return None if ok else "Numéro invalide : 10 chiffres commençant par 0, ou + et l'indicatif du pays."


def contact_clean(raw: Mapping[str, object], *, current: Mapping[str, str] | None = None) -> dict[str, str]:
    """The contact fields of `raw` (only those present) cleaned: spaces collapsed, control characters removed;
    `current`: the stored values the missing fields keep (for the check of the preferred way of contact).

    Raises PatientDataError with one French message per refused field; the caller shows the form again with what
    was typed (never truncated: a text too long is refused, not cut)."""
    values = {name: _one_line(raw[name]) for name in CONTACT_FIELDS if name in raw}
    errors: dict[str, str] = {}
    for name, value in values.items():
        limit = MAX_LENGTHS.get(name)
        if limit is not None and len(value) > limit:
            errors[name] = f"{limit} caractères au maximum (vous en avez saisi {len(value)})."
    postal = values.get("postal_code", "")
    if postal and "postal_code" not in errors and not (postal.isascii() and postal.isdigit() and len(postal) == 5):
        errors["postal_code"] = "Code postal : 5 chiffres (ex. 69003)."
    for name in ("phone", "mobile_phone"):
        message = _phone_error(values.get(name, ""))
        if message and name not in errors:
            errors[name] = message
    email = values.get("email", "")
    if email and "email" not in errors:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = "Adresse de courriel invalide (ex. prenom.nom@exemple.fr)."
    preference = values.get("contact_preference", "")
    if preference and preference not in ContactPreference.values:
        errors["contact_preference"] = "Moyen de contact inconnu."
    elif not errors:
        errors = _preference_errors({**(current or {}), **values})
    if errors:
        raise PatientDataError(errors)
    return values


def _preference_errors(values: Mapping[str, str]) -> dict[str, str]:
    """The preferred way to reach the patient needs its number or address (a reminder by SMS needs a mobile)."""
    needs = {
        ContactPreference.SMS: (("mobile_phone",), "Indiquez un téléphone portable pour les SMS."),
        ContactPreference.COURRIEL: (("email",), "Indiquez une adresse de courriel."),
        ContactPreference.TELEPHONE: (("phone", "mobile_phone"), "Indiquez un numéro de téléphone."),
        ContactPreference.COURRIER: (("postal_code", "city"), "Indiquez l'adresse postale (code postal et ville)."),
    }
    preference = values.get("contact_preference", "")
    if preference not in needs:
        return {}
    fields, message = needs[ContactPreference(preference)]
    present = [bool(values.get(name)) for name in fields]
    missing = not any(present) if preference == ContactPreference.TELEPHONE else not all(present)
    return {"contact_preference": message} if missing else {}
