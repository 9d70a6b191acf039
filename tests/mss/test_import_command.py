"""`caducee import PATH… [--json]`: the issue 5 acceptance on files — hostile zips quarantined with nothing written
outside the store, a qualified-INS XDM filed into the patient it names."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command, get_commands

from caducee.mss.models import InboundMessage, ReceivedDocument
from tests.documents.cda_records import qualify
from tests.mss import hostile

pytestmark = pytest.mark.django_db


@pytest.fixture
def inputs(settings, tmp_path: Path, practice, doctor, make_patient, monkeypatch):  # type: ignore[no-untyped-def]
    settings.SANDBOX = True
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    monkeypatch.chdir(tmp_path)
    patient = qualify(make_patient())
    valid = hostile.xdm_of(hostile.vsm_cda(practice, doctor, patient))
    folder = tmp_path / "recus"
    folder.mkdir()
    files = {
        "traversal.zip": hostile.traversal_zip(valid),
        "bomb.zip": hostile.bomb_zip(valid),
        "xxe.zip": hostile.xxe_zip(valid),
        "IHE_XDM.zip": valid,
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return patient, folder


def _run(*args: str) -> list[dict]:  # type: ignore[type-arg]
    out = StringIO()
    call_command("import", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_import_is_a_caducee_command() -> None:
    assert get_commands()["import"] == "caducee.mss"


def test_json_per_file_hostile_quarantined_and_valid_filed(inputs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    patient, folder = inputs
    before = _listing(tmp_path)
    results = {
        Path(r["file"]).name: r
        for r in _run(*(str(folder / n) for n in sorted(p.name for p in folder.iterdir())), "--json")
    }
    assert {name: r["outcome"] for name, r in results.items()} == {
        "traversal.zip": "quarantined",
        "bomb.zip": "quarantined",
        "xxe.zip": "quarantined",
        "IHE_XDM.zip": "integrated",
    }
    assert "nom de fichier dangereux" in results["traversal.zip"]["reason"]
    assert "bombe de décompression" in results["bomb.zip"]["reason"]
    assert "DTD" in results["xxe.zip"]["reason"]
    assert results["IHE_XDM.zip"]["patient"] == {"id": patient.pk, "name": "ADRTROIS DOMINIQUE"}
    assert "patient" not in results["bomb.zip"]
    new = _listing(tmp_path) - before
    assert new and all(p.startswith("data/mss/raw/") for p in new), new  # nothing outside the store
    assert InboundMessage.objects.filter(source="import").count() == 4
    assert ReceivedDocument.objects.filter(state="filed", patient=patient).count() == 1


def test_directory_and_human_output_in_french(inputs) -> None:  # type: ignore[no-untyped-def]
    _, folder = inputs
    out = StringIO()
    call_command("import", str(folder), stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert any("intégré — patient ADRTROIS DOMINIQUE" in line for line in lines)
    assert sum("quarantaine" in line for line in lines) == 3


def test_missing_path_is_reported_and_fails_the_command(inputs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, folder = inputs
    out = StringIO()
    with pytest.raises(CommandError, match="introuvable"):
        call_command("import", str(tmp_path / "absent.zip"), str(folder / "IHE_XDM.zip"), "--json", stdout=out)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert results[0] == {"file": str(tmp_path / "absent.zip"), "outcome": "missing", "reason": "fichier introuvable."}
    assert results[1]["outcome"] == "integrated"  # the other files are still taken in
