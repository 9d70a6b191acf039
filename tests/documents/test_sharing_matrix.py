"""The arrêté of 26 April 2022 as data and the "Envoyer au DMP" default of the validation panel."""

from __future__ import annotations

import datetime as dt

from caducee.documents import sharing_matrix as matrix
from caducee.documents.sharing_matrix import (
    ARRETE_2022_04_26,
    LOINC,
    dmp_default,
    dmp_default_reason,
    dmp_obligation,
    matrix_row,
)


def test_the_matrix_has_the_eight_rows_of_the_arrete() -> None:
    assert len(ARRETE_2022_04_26) == 8
    biology = ARRETE_2022_04_26[0]
    assert "biologie" in biology.label and not biology.dmp and biology.mss_ps and biology.mss_patient
    assert all(row.dmp for row in ARRETE_2022_04_26[1:])
    assert {row.in_force for row in ARRETE_2022_04_26} == {
        dt.date(2022, 11, 1),
        dt.date(2023, 1, 1),
        dt.date(2023, 12, 1),
    }


def test_obligations_start_on_their_date() -> None:
    assert not dmp_obligation("57833-6", LOINC, dt.date(2022, 10, 31))
    assert dmp_obligation("57833-6", LOINC, dt.date(2022, 11, 1))
    assert not dmp_default("96349-6", LOINC, dt.date(2023, 11, 30))
    assert dmp_default("96349-6", LOINC, dt.date(2023, 12, 1))
    assert dmp_default("89601-9", LOINC, dt.date(2026, 1, 1))
    assert "arrêté du 26 avril 2022" in dmp_default_reason("96349-6", LOINC, dt.date(2026, 1, 1))


def test_biology_reports_go_by_messaging_not_to_the_dmp() -> None:
    row = matrix_row("11502-2", LOINC)
    assert row is not None and not row.dmp
    assert not dmp_default("11502-2", LOINC, dt.date(2026, 1, 1))
    assert dmp_default_reason("11502-2", LOINC, dt.date(2026, 1, 1)) == ""


def test_summaries_and_consultation_reports_are_pre_ticked_even_before_any_date() -> None:
    early = dt.date(2020, 1, 1)
    assert dmp_default("SYNTH", matrix.CISIS_TYPES, early)
    assert dmp_default("60591-5", LOINC, early)
    assert dmp_default("11488-4", LOINC, early)
    assert "forfait structure" in dmp_default_reason("SYNTH", matrix.CISIS_TYPES, early)


def test_unknown_or_wrong_system_is_not_pre_ticked() -> None:
    assert not dmp_default("57833-6", "1.2.3", dt.date(2026, 1, 1))
    assert not dmp_default("XXXX", LOINC, dt.date(2026, 1, 1))


def test_mss_to_the_medecin_traitant_follows_the_arrete_and_never_to_oneself() -> None:
    """Issue 5 §6 / LGC.MSS.03: a letter to a professional (96349-6) goes to the médecin traitant by MSSanté from
    1 December 2023, unless the author is the médecin traitant; a VSM is not in the arrêté (offered, not ticked)."""
    after, before = dt.date(2024, 1, 10), dt.date(2023, 11, 30)
    assert matrix.mss_to_medecin_traitant_default("96349-6", LOINC, after, author_is_mt=False)
    assert not matrix.mss_to_medecin_traitant_default("96349-6", LOINC, after, author_is_mt=True)
    assert not matrix.mss_to_medecin_traitant_default("96349-6", LOINC, before, author_is_mt=False)
    assert not matrix.mss_to_medecin_traitant_default("SYNTH", matrix.CISIS_TYPES, after, author_is_mt=False)
    assert matrix.mss_patient_obligation("11502-2", LOINC, after)  # biology: not the DMP, but the patient's MSS
    assert not matrix.dmp_obligation("11502-2", LOINC, after)
