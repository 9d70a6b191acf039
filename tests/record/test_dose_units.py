"""Issue 13 §2: dose units in French — « comprimé », « cp », « gél » are offered and accepted, the UCUM code
({tablet}) is stored, every display is French with its plural, and the search never offers the UCUM table's
English names (« tablespoon - US », « centipoise » for « cp »). All fail before the fix (« comprimé » was
refused, the chart showed « 2 {tablet} »)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from caducee.record import services
from caducee.record.dose_units import dose_unit, dose_unit_code, dose_unit_label, dose_units
from caducee.record.models import Concept, LongTermTreatment
from caducee.record.templatetags.record_tags import dose
from caducee.record.terminology import OID_UCUM, label_key

pytestmark = pytest.mark.django_db

# terminologie.sch, rule is-code-ucum-exist: what is left after this removal must be a UCUM code.
SCH_ANNOTATION = re.compile(r"\{.[a-z]*.\}")


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("comprimé", "{tablet}"),
        ("Comprimés", "{tablet}"),
        ("cp", "{tablet}"),
        ("CPR", "{tablet}"),
        ("{comprimé}", "{tablet}"),  # rows stored before the fix
        ("gél", "{capsule}"),
        ("gelules", "{capsule}"),
        ("sachet", "{sachet}"),
        ("gtt", "{drop}"),
        ("bouffées", "{puff}"),
        ("application", "{application}"),
        ("ml", "mL"),
        ("mL", "mL"),
        ("mg", "mg"),
        ("µg", "ug"),
        ("UI", "[iU]"),
    ],
)
def test_typed_french_units_give_the_code(typed: str, code: str) -> None:
    assert dose_unit_code(typed) == code


def test_every_dose_form_passes_the_schematron_ucum_rule() -> None:
    """A dose form is an annotation the CI-SIS rule removes entirely ({gélule} would stay and be refused)."""
    for unit in dose_units():
        if unit.code.startswith("{"):
            assert SCH_ANNOTATION.sub("", unit.code) == "", unit.code


def test_edqm_codes_from_the_ans_examples() -> None:
    assert dose_unit("{tablet}").edqm == "15054000"  # type: ignore[union-attr]
    assert dose_unit("{capsule}").edqm == "15012000"  # type: ignore[union-attr]


def test_labels_are_french_with_plural() -> None:
    assert dose(Decimal("2"), "{tablet}") == "2 comprimés"
    assert dose(Decimal("1"), "{tablet}") == "1 comprimé"
    assert dose(Decimal("1.5"), "{capsule}") == "1,5 gélule"
    assert dose(Decimal("1000.000"), "mg") == "1000 mg"
    assert dose(Decimal("3"), "{comprimé}") == "3 comprimés"
    assert dose_unit_label("[iU]", 10) == "UI" and dose_unit_label("ug") == "µg"
    assert dose_unit_label("mmol/L") == "mmol/L"  # not in the table: shown as it is


def test_service_stores_the_code_and_refuses_unknown_units(doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    treatment = services.treatment_create(
        actor=doctor, patient=patient, drug_label="Metformine", dose_quantity=Decimal(2), dose_unit="cp"
    )
    assert treatment.dose_unit == "{tablet}"
    treatment = services.treatment_create(
        actor=doctor, patient=patient, drug_label="Doliprane", dose_quantity=Decimal(1000), dose_unit="mg"
    )
    assert treatment.dose_unit == "mg"
    with pytest.raises(ValidationError, match="choisissez une unité proposée"):
        services.treatment_create(
            actor=doctor, patient=patient, drug_label="X", dose_quantity=Decimal(1), dose_unit="pilule magique"
        )


def test_search_offers_french_units_never_english_names(client: Client, doctor, concepts) -> None:  # type: ignore[no-untyped-def]
    Concept.objects.bulk_create(
        [
            Concept(system=OID_UCUM, code=c, label=lb, label_key=label_key(lb))
            for c, lb in [("cP", "centipoise"), ("[tbs_us]", "tablespoon - US"), ("[k]", "Boltzmann constant")]
        ]
    )
    client.force_login(doctor)

    def search(text: str) -> list[dict[str, str]]:
        response = client.get("/dossier/terminologie/", {"systeme": "dose", "q": text})
        assert response.status_code == 200
        return response.json()["results"]

    first = search("cp")[0]
    assert first["code"] == "{tablet}" and first["value"] == "comprimé"
    assert [r["value"] for r in search("comp")][:1] == ["comprimé"]
    assert search("gél")[0]["value"] == "gélule"
    assert search("gel")[0]["value"] == "gélule"  # accents ignored
    assert search("cuil") and all("cuillère" in r["value"] for r in search("cuil"))
    for text in ("cp", "tab", "k", "bol"):
        assert not any(
            "centipoise" in r["label"] or "US" in r["label"] or "Boltzmann" in r["label"] for r in search(text)
        )
    assert search("mg")[0]["code"] == "mg"


def test_chart_and_edit_form_show_french(client: Client, doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    response = client.post(
        f"/dossier/{patient.pk}/traitement/ajouter/",
        {"drug_label": "Metformine", "dose_quantity": "2", "dose_unit": "comprimés"},
    )
    assert response.status_code == 302
    treatment = LongTermTreatment.objects.get()
    assert treatment.dose_unit == "{tablet}"
    page = client.get(f"/dossier/{patient.pk}/").content.decode()
    assert "Metformine — 2 comprimés" in page and "{tablet}" not in page


def test_edit_form_shows_the_unit_in_french(client: Client, doctor, patient, concepts) -> None:  # type: ignore[no-untyped-def]
    """Editing a treatment shows « comprimés », not its code, and saving it keeps the code."""
    treatment = services.treatment_create(
        actor=doctor, patient=patient, drug_label="Metformine", dose_quantity=Decimal(2), dose_unit="{tablet}"
    )
    client.force_login(doctor)
    url = f"/dossier/{patient.pk}/traitement/{treatment.pk}/modifier/"
    page = client.get(url).content.decode()
    assert 'value="comprimés"' in page and "{tablet}" not in page
    response = client.post(url, {"drug_label": "Metformine", "dose_quantity": "3", "dose_unit": "comprimés"})
    assert response.status_code == 302
    treatment.refresh_from_db()
    assert treatment.dose_unit == "{tablet}" and treatment.dose_quantity == 3
