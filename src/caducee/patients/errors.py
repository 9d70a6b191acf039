"""Errors of the administrative record's services, in French for the people who typed the data."""

from __future__ import annotations


class PatientDataError(ValueError):
    """Some fields are refused: `errors` maps each field name to its French message. Nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ; ".join(self.errors.values()))


class PatientConflict(ValueError):
    """Someone saved this card since it was shown (optimistic check on `Patient.version`): nothing was saved."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "Ces données ont été modifiées par quelqu'un d'autre depuis l'ouverture du formulaire : rien n'a été "
            "enregistré. Vérifiez les valeurs actuelles ci-dessous puis enregistrez à nouveau."
        )
