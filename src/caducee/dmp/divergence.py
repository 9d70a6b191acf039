"""Identity divergence between the DMP and the chart (pure; SC.DMP/CONF.02, RG_0320): which traits differ, and the
French text that says so. Never the DMP's values (RG_0320: they are not shown)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from caducee.dmp.api import DmpIdentity
from caducee.identity.models import Identity


def _norm(value: str) -> str:
    """Upper case without accents, hyphens, apostrophes or double spaces (the RNIV comparison of traits)."""
    text = unicodedata.normalize("NFKD", value or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).upper()
    for char in "-'’":
        text = text.replace(char, " ")
    return " ".join(text.split())


def identity_divergence(identity: Identity, dmp: DmpIdentity) -> list[str]:
    """The traits (French names) on which the DMP's identity differs from ours; a trait the DMP left empty is not
    compared. Never the DMP's values (RG_0320: they are not shown)."""
    differing: list[str] = []
    if dmp.birth_name and _norm(dmp.birth_name) != _norm(identity.birth_name):
        differing.append("nom de naissance")
    if dmp.given:
        given = _norm(dmp.given)
        first = _norm(identity.first_given_name)
        if given != first and given.split(" ")[0] != first and given != _norm(identity.birth_given_names):
            differing.append("premier prénom de naissance")
    if dmp.birth_date and dmp.birth_date[:8] != identity.birth_date.replace("-", ""):
        differing.append("date de naissance")
    if dmp.sex:
        local = {"I": "U"}.get(identity.sex, identity.sex)
        if dmp.sex.upper() != local:
            differing.append("sexe")
    return differing


def divergence_text(traits: Sequence[str]) -> str:
    if not traits:
        return ""
    return (
        f"L'identité enregistrée dans le DMP diffère de celle du dossier ({', '.join(traits)}). "
        "Vérifiez l'identité du patient avec une pièce d'identité avant d'alimenter ou de consulter son DMP."
    )
