"""Small add forms of the "Dossier médical" section: parsing and field-level messages only; the rules
(codes, plausibility, permissions) live in the services.

Fields that search a terminology carry `data-terminology` (the system searched) and `data-code-field`
(the field that receives the code); static/caducee/record.js turns them into search-as-you-type
lists. Without JavaScript the code fields are typed directly.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from caducee.record.models import Allergy, FamilyHistory, History, Lifestyle, Problem


def _search(system: str, code_field: str, placeholder: str, *, kind_field: str = "") -> forms.TextInput:
    attrs = {"data-terminology": system, "data-code-field": code_field, "autocomplete": "off"}
    attrs["placeholder"] = placeholder
    if kind_field:  # the search depends on another field's value (an allergy's agent kind)
        attrs["data-kind-field"] = kind_field
    return forms.TextInput(attrs=attrs)


def _code(size: int = 10) -> forms.TextInput:
    return forms.TextInput(attrs={"size": size, "autocomplete": "off", "spellcheck": "false"})


_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _decimal(**kwargs: Any) -> forms.DecimalField:
    # localize: "82,5" as typed in France as well as "82.5".
    return forms.DecimalField(
        required=False, localize=True, widget=forms.TextInput(attrs={"inputmode": "decimal"}), **kwargs
    )


# Markup of the blank forms' fields, by (form class, auto_id, prefix, language): the chart shows ten blank
# add forms on every page, and rendering their widgets was most of its time (bench/bench_chart.py).
_BLANK_FIELDS: dict[tuple[type[forms.Form], Any, str | None, str | None], SafeString] = {}


class RecordForm(forms.Form):
    """A small add form of the record: `fields_html` renders its fields (templates/record/_fields.html)."""

    def fields_html(self) -> SafeString:
        """The fields' markup; a blank form's (unbound, no initial data of its own) is rendered once per
        class, ids and language, and reused: it holds nothing of the request (no CSRF token, no URL)."""
        if self.is_bound or self.initial:
            return render_to_string("record/_fields.html", {"form": self})
        key = (type(self), self.auto_id, self.prefix, get_language())
        html = _BLANK_FIELDS.get(key)
        if html is None:
            html = _BLANK_FIELDS[key] = render_to_string("record/_fields.html", {"form": self})
        return html


class ProblemForm(RecordForm):
    label = forms.CharField(
        label="Pathologie", required=False, max_length=300, widget=_search("cim10", "cim10_code", "diabète, E11…")
    )
    cim10_code = forms.CharField(label="Code CIM-10", required=False, max_length=10, widget=_code())
    status = forms.ChoiceField(label="État", choices=Problem.Status.choices, initial=Problem.Status.ACTIVE)
    onset = forms.DateField(label="Début", required=False, widget=_DATE)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("label") and not data.get("cim10_code"):
            raise forms.ValidationError("Saisissez un libellé ou un code CIM-10.")
        return data


class HistoryForm(RecordForm):
    kind = forms.ChoiceField(label="Type", choices=History.Kind.choices)
    label = forms.CharField(
        label="Antécédent", required=False, max_length=300, widget=_search("cim10", "cim10_code", "appendicite…")
    )
    cim10_code = forms.CharField(label="Code CIM-10", required=False, max_length=10, widget=_code())
    ccam_code = forms.CharField(label="Acte CCAM (facultatif)", required=False, max_length=13, widget=_code())
    date = forms.DateField(label="Date", required=False, widget=_DATE)


class FamilyHistoryForm(RecordForm):
    relation = forms.ChoiceField(label="Lien", choices=FamilyHistory.Relation.choices)
    label = forms.CharField(
        label="Pathologie", required=False, max_length=300, widget=_search("cim10", "cim10_code", "infarctus…")
    )
    cim10_code = forms.CharField(label="Code CIM-10", required=False, max_length=10, widget=_code())


class AllergyForm(RecordForm):
    agent_kind = forms.ChoiceField(label="Agent", choices=Allergy.AgentKind.choices)
    agent_label = forms.CharField(
        label="Agent (médicament, substance…)",
        required=False,
        max_length=300,
        widget=_search("allergene", "agent_code", "amoxicilline, pénicillines, iode, latex…", kind_field="agent_kind"),
    )
    # The search follows the chosen kind: drug products (CIS), or substances and classes (ATC) — issue 13 §2.
    agent_code = forms.CharField(
        label="Code (CIS d'un médicament, ATC d'une substance)", required=False, max_length=20, widget=_code()
    )
    is_intolerance = forms.BooleanField(label="Intolérance (non allergique)", required=False)
    reaction = forms.CharField(label="Réaction", required=False, max_length=300)
    severity = forms.ChoiceField(label="Sévérité", choices=Allergy.Severity.choices, required=False)


class ProfessionalRiskForm(RecordForm):
    label = forms.CharField(label="Facteur de risque professionnel", max_length=300)


class LifestyleForm(RecordForm):
    kind = forms.ChoiceField(label="Habitus", choices=Lifestyle.Kind.choices)
    value = forms.CharField(label="Description", max_length=300)
    quantity = _decimal(label="Quantité", max_digits=8, decimal_places=2)
    unit = forms.CharField(label="Unité UCUM", required=False, max_length=20, widget=_code(8))


class VigilancePointForm(RecordForm):
    text = forms.CharField(label="Point de vigilance", widget=forms.Textarea(attrs={"rows": 2}))


class TreatmentForm(RecordForm):
    drug_label = forms.CharField(
        label="Médicament", required=False, max_length=300, widget=_search("cis", "cis_code", "metformine…")
    )
    cis_code = forms.CharField(label="Code CIS", required=False, max_length=8, widget=_code(9))
    atc_code = forms.CharField(label="Code ATC", required=False, max_length=7, widget=_code(8))
    dose_quantity = _decimal(label="Dose", max_digits=8, decimal_places=3)
    # French units (« comprimé », « cp », « gél », « mg »…): the service stores their UCUM code (issue 13 §2).
    dose_unit = forms.CharField(
        label="Unité", required=False, max_length=20, widget=_search("dose", "dose_unit", "comprimé, mg, mL…")
    )
    route_label = forms.CharField(
        label="Voie", required=False, max_length=100, widget=_search("route", "route_code", "orale…")
    )
    route_code = forms.CharField(label="Code EDQM de la voie", required=False, max_length=20, widget=_code(9))
    frequency = forms.CharField(label="Posologie", required=False, max_length=200)
    start = forms.DateField(label="Début", required=False, widget=_DATE)
    reason_label = forms.CharField(
        label="Motif", required=False, max_length=300, widget=_search("cim10", "reason_cim10", "diabète…")
    )
    reason_cim10 = forms.CharField(label="Motif (CIM-10)", required=False, max_length=10, widget=_code())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("drug_label") and not data.get("cis_code") and not data.get("atc_code"):
            raise forms.ValidationError("Saisissez un médicament (nom, code CIS ou ATC).")
        data.pop("route_label", None)  # display only: the route is its EDQM code
        return data


class VitalsForm(RecordForm):
    weight_kg = _decimal(label="Poids (kg)", max_digits=6, decimal_places=2)
    # Two decimals accepted so that a height typed in metres ("1,75") reaches the plausibility check
    # and gets its explicit message instead of a format error.
    height_cm = _decimal(label="Taille (cm)", max_digits=5, decimal_places=2)
    systolic = _decimal(label="PA systolique (mm Hg)", max_digits=5, decimal_places=0)
    diastolic = _decimal(label="PA diastolique (mm Hg)", max_digits=5, decimal_places=0)
    heart_rate = _decimal(label="Fréquence cardiaque (/min)", max_digits=5, decimal_places=0)
    temperature = _decimal(label="Température (°C)", max_digits=4, decimal_places=1)
    spo2 = _decimal(label="SpO₂ (%)", max_digits=5, decimal_places=1)

    def clean(self) -> dict[str, Any]:
        data = {k: v for k, v in (super().clean() or {}).items() if v is not None}
        if not data:
            raise forms.ValidationError("Saisissez au moins une mesure.")
        return data


class AldForm(RecordForm):
    label = forms.CharField(
        label="Affection de longue durée", max_length=200, widget=_search("cim10", "cim10_codes", "diabète…")
    )
    cim10_codes = forms.CharField(
        label="Codes CIM-10",
        required=False,
        max_length=100,
        help_text="séparés par des espaces",
        widget=forms.TextInput(attrs={"size": 16, "autocomplete": "off", "data-append": "1"}),
    )
    start = forms.DateField(label="Début", widget=_DATE)
    end = forms.DateField(label="Fin", required=False, widget=_DATE)
