"""Terminologies of the clinical record: CIM-10, CCAM, ATC, EDQM, UCUM (and drugs by CIS code).

`caducee import-terminology` loads `Concept` rows from the ANS files shipped with the CI-SIS test kit
(`TestContenuCDA-3-0/schematrons/profils/terminologies/terminologie/*.rdf`, the SKOS dumps the
`terminologie.sch` schematron checks codes against). Codes come from those files, so every code the
record accepts is one the VSM/IPS-FR terminology schematron accepts. The kit's copies carry
`skos:notation` only (no `skos:prefLabel`): labels come, in this order, from a `skos:prefLabel` when
a full SMT export is given, from the compact table shipped in `record/data/` (built by
`scripts/build_demo_terminology.py`), then from the CI-SIS value sets (`jeuxDeValeurs/*.xml`,
IHE SVS `Concept/@displayName`). A code without any label is still loaded: it can be searched by code.

Files are stream-parsed (lxml iterparse, no DTD, no entities, no network) and written in batches
with an upsert on (system, code), so a re-import is idempotent and memory stays flat.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from lxml import etree

from caducee.core.text import strip_accents
from caducee.record.models import Concept

# Code system OIDs (CI-SIS "Terminologies.txt" of the test kit; CCAM: see the note on SYSTEMS).
OID_CIM10 = "2.16.840.1.113883.6.3"
OID_CCAM = "1.2.250.1.215.300.1"
OID_CCAM_OLD = "1.2.250.1.213.2.5"
OID_ATC = "2.16.840.1.113883.6.73"
OID_EDQM = "0.4.0.127.0.16.1.1.2.1"
OID_UCUM = "2.16.840.1.113883.6.8"
# Code CIS of the BDPM (ANSM), as CI-SIS entries carry it (examples/01_Modèles_contenus_CDA.xml, codeSystemName CIS).
OID_CIS = "1.2.250.1.213.2.3.1"

NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_SKOS = "http://www.w3.org/2004/02/skos/core#"
NS_SVS = "urn:ihe:iti:svs:2008"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

KIT_TERMINOLOGY_DIR = Path("cda/TestContenuCDA-3-0/schematrons/profils/terminologies/terminologie")
KIT_VALUE_SET_DIR = Path("cda/TestContenuCDA-3-0/jeuxDeValeurs")
BDPM_DIR = Path("bdpm/full-2021")
DEMO_TABLE = Path(__file__).resolve().parent / "data" / "terminology_demo.tsv.gz"

BATCH_SIZE = 2000
_CCAM_ACT = re.compile(r"^[A-Z]{4}[0-9]{3}$")


def _not_a_range(code: str) -> bool:
    # CIM-10 blocks ("V40-V49") are headings, not codes a diagnosis may carry.
    return "-" not in code


def _ccam_act(code: str) -> bool:
    # The ANS CCAM dump also lists the hierarchy ("16.03.07.01") and act+phase+activity variants
    # ("MDCA0071"); a CDA entry carries the 7-character act code.
    return bool(_CCAM_ACT.match(code))


@dataclass(frozen=True)
class TerminologySystem:
    name: str
    title: str
    oid: str
    # File names tried in order in the terminology directory (the first that exists is read).
    files: tuple[str, ...]
    keep: Callable[[str], bool] | None = None


SYSTEMS: dict[str, TerminologySystem] = {
    "cim10": TerminologySystem("cim10", "CIM-10", OID_CIM10, (f"{OID_CIM10}.rdf",), _not_a_range),
    # Issue 3 trap: the CCAM OID is 1.2.250.1.215.300.1; older kits file it under 1.2.250.1.213.2.5.
    # Concepts are always stored under the current OID.
    "ccam": TerminologySystem("ccam", "CCAM", OID_CCAM, (f"{OID_CCAM}.rdf", f"{OID_CCAM_OLD}.rdf"), _ccam_act),
    "atc": TerminologySystem("atc", "ATC", OID_ATC, (f"{OID_ATC}.rdf",)),
    "edqm": TerminologySystem("edqm", "EDQM", OID_EDQM, (f"{OID_EDQM}.rdf",)),
    "ucum": TerminologySystem("ucum", "UCUM", OID_UCUM, (f"{OID_UCUM}.xml", f"{OID_UCUM}.rdf")),
    "cis": TerminologySystem("cis", "Médicaments (CIS, BDPM)", OID_CIS, ("CIS_bdpm.txt",)),
}
DEFAULT_SYSTEMS = ("cim10", "ccam", "atc", "edqm", "ucum")
# Search-only aliases: (OID, code regex). EDQM routes of administration are the 8-digit 20xxxxxx codes
# (JDV_RouteofAdministration_CISIS); the same file also holds dose forms, packaging, etc.
SEARCH_ALIASES: dict[str, tuple[str, str]] = {"route": (OID_EDQM, r"^20[0-9]{6}$")}


class TerminologyError(Exception):
    pass


def label_key(label: str) -> str:
    """Upper case, no accents, words kept apart by one space: prefix search on any word of a label."""
    words = re.split(r"[^A-Z0-9]+", strip_accents(label).upper())
    return " ".join(w for w in words if w)[:300]


def _safe_iterparse(source: Path | io.BufferedIOBase, tag: str | tuple[str, ...]) -> Iterator[etree._Element]:
    """Elements with `tag`, freed once read; no DTD, no entity expansion, no network (XXE-safe)."""
    context = etree.iterparse(
        source,
        events=("end",),
        tag=tag,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
    )
    for _event, element in context:
        yield element
        element.clear(keep_tail=False)
        parent = element.getparent()
        while parent is not None and element.getprevious() is not None:
            del parent[0]


def iter_skos(path: Path) -> Iterator[tuple[str, str]]:
    """(code, label) of every skos:Concept / rdf:Description with a skos:notation; label may be ''."""
    tags = (f"{{{NS_RDF}}}Description", f"{{{NS_SKOS}}}Concept")
    for element in _safe_iterparse(path, tags):
        code = (element.findtext(f"{{{NS_SKOS}}}notation") or "").strip()
        if not code:
            continue
        label = ""
        for pref in element.iterfind(f"{{{NS_SKOS}}}prefLabel"):
            text = (pref.text or "").strip()
            if text and (not label or pref.get(XML_LANG, "").startswith("fr")):
                label = text
        yield code, label


def iter_ucum(path: Path) -> Iterator[tuple[str, str]]:
    """The UCUM table of the kit: <row><code/><name/>…</row> (names are English)."""
    if path.suffix == ".rdf":
        yield from iter_skos(path)
        return
    for row in _safe_iterparse(path, "row"):
        code = (row.findtext("code") or "").strip()
        if code:
            yield code, " ".join((row.findtext("name") or "").split())


def iter_bdpm_cis(path: Path) -> Iterator[tuple[str, str]]:
    """CIS_bdpm.txt (ANSM): tab-separated, no header; column 7 is the marketing status.

    Only marketed drugs are kept: a long-term treatment or an allergy agent is chosen among them.
    The files mix encodings (DESIGN.md, known traps): UTF-8 first, cp1252 when that fails.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) > 6 and cols[0].strip().isdigit() and cols[6].strip() == "Commercialisée":
            yield cols[0].strip(), " ".join(cols[1].split())


def value_set_labels(directory: Path | None, oids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Labels of the CI-SIS value sets (IHE SVS files), per code system OID."""
    wanted = set(oids)
    labels: dict[str, dict[str, str]] = {oid: {} for oid in wanted}
    if directory is None or not directory.is_dir():
        return labels
    for path in sorted(directory.glob("*.xml")):
        try:
            for concept in _safe_iterparse(path, f"{{{NS_SVS}}}Concept"):
                oid = concept.get("codeSystem", "")
                if oid == OID_CCAM_OLD:
                    oid = OID_CCAM
                if oid in wanted:
                    code, label = concept.get("code", "").strip(), " ".join(concept.get("displayName", "").split())
                    if code and label:
                        labels[oid].setdefault(code, label)
        except etree.XMLSyntaxError:
            continue  # a few kit files are empty placeholders
    return labels


def read_demo_table(path: Path = DEMO_TABLE) -> Iterator[tuple[str, str, str]]:
    """(oid, code, label) rows of the compact table; lines starting with '#' are its provenance header."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            row = line.rstrip("\n").split("\t")
            if len(row) == 3:
                yield row[0], row[1], row[2]


def packaged_labels(oids: Iterable[str]) -> dict[str, dict[str, str]]:
    wanted = set(oids)
    labels: dict[str, dict[str, str]] = {oid: {} for oid in wanted}
    if DEMO_TABLE.exists():
        for oid, code, label in read_demo_table():
            if oid in wanted and label:
                labels[oid][code] = label
    return labels


def upsert_concepts(system: str, rows: Iterable[tuple[str, str]], *, batch_size: int = BATCH_SIZE) -> tuple[int, int]:
    """Insert or update (code, label) rows of one system. An empty label never erases a known one.

    Returns (rows written, rows with a label).
    """
    total = labelled = 0
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        with_label = [
            Concept(system=system, code=c, label=lb, label_key=label_key(lb), active=True) for c, lb in batch if lb
        ]
        without = [Concept(system=system, code=c, label="", label_key="", active=True) for c, lb in batch if not lb]
        with transaction.atomic():
            if with_label:
                Concept.objects.bulk_create(
                    with_label,
                    update_conflicts=True,
                    unique_fields=["system", "code"],
                    update_fields=["label", "label_key", "active"],
                )
            if without:
                Concept.objects.bulk_create(
                    without, update_conflicts=True, unique_fields=["system", "code"], update_fields=["active"]
                )
        batch.clear()

    seen: set[str] = set()
    for code, label in rows:
        code = code[:40]
        if code in seen:  # a code twice in one batch would make the upsert touch a row twice (PostgreSQL refuses)
            continue
        seen.add(code)
        batch.append((code, label[:300]))
        total += 1
        labelled += bool(label)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return total, labelled


def _deactivate_missing(system: str, present: set[str]) -> int:
    """Codes withdrawn from a new version of the terminology stay (old entries cite them) but are inactive."""
    stale = [
        c for c in Concept.objects.filter(system=system, active=True).values_list("code", flat=True) if c not in present
    ]
    for start in range(0, len(stale), 500):
        Concept.objects.filter(system=system, code__in=stale[start : start + 500]).update(active=False)
    return len(stale)


@dataclass
class ImportResult:
    system: str
    path: Path
    concepts: int
    labelled: int
    deactivated: int


def default_terminology_dir() -> Path:
    return Path(settings.REFERENCE_DIR) / KIT_TERMINOLOGY_DIR


def import_terminology(
    *,
    directory: Path | None = None,
    systems: Iterable[str] = DEFAULT_SYSTEMS,
    value_set_dir: Path | None = None,
    bdpm_dir: Path | None = None,
    limit: int | None = None,
    batch_size: int = BATCH_SIZE,
) -> list[ImportResult]:
    """Load the chosen systems from the ANS files. `limit` (tests) reads only the first codes of each
    file and then never deactivates anything."""
    reference = Path(settings.REFERENCE_DIR)
    directory = directory or default_terminology_dir()
    if value_set_dir is None:
        # The kit layout: <kit>/schematrons/profils/terminologies/terminologie and <kit>/jeuxDeValeurs.
        guess = directory.parents[3] / "jeuxDeValeurs" if len(directory.parents) > 3 else None
        value_set_dir = guess if guess is not None and guess.is_dir() else reference / KIT_VALUE_SET_DIR
    chosen = [_system(name) for name in systems]
    oids = [s.oid for s in chosen]
    packaged = packaged_labels(oids)
    value_sets = value_set_labels(value_set_dir, oids)
    results = []
    for system in chosen:
        base = (bdpm_dir or reference / BDPM_DIR) if system.name == "cis" else directory
        path = next((base / f for f in system.files if (base / f).exists()), None)
        if path is None:
            raise TerminologyError(f"{system.title} : aucun fichier {' ou '.join(system.files)} dans {base}")
        reader = {"ucum": iter_ucum, "cis": iter_bdpm_cis}.get(system.name, iter_skos)
        present: set[str] = set()
        rows = _labelled_rows(reader(path), system, limit, present, packaged[system.oid], value_sets[system.oid])
        try:
            total, labelled = upsert_concepts(system.oid, rows, batch_size=batch_size)
        except etree.XMLSyntaxError as exc:
            # Batches already written stay (they are valid codes); a re-run after fixing the file completes it.
            raise TerminologyError(f"{system.title} : fichier illisible {path.name} ({exc})") from exc
        deactivated = _deactivate_missing(system.oid, present) if limit is None else 0
        results.append(ImportResult(system.name, path, total, labelled, deactivated))
    return results


def _labelled_rows(
    rows: Iterable[tuple[str, str]],
    system: TerminologySystem,
    limit: int | None,
    present: set[str],
    packaged: dict[str, str],
    value_sets: dict[str, str],
) -> Iterator[tuple[str, str]]:
    """Filter the codes a system keeps, record them in `present`, and give each its best label."""
    for count, (code, label) in enumerate(rows):
        if limit is not None and count >= limit:
            return
        if system.keep is not None and not system.keep(code):
            continue
        present.add(code)
        yield code, label or packaged.get(code) or value_sets.get(code, "")


def import_demo_terminology(*, path: Path = DEMO_TABLE, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Load the compact table shipped with Caducée (works without ../shared). Idempotent."""
    per_system: dict[str, list[tuple[str, str]]] = {}
    for oid, code, label in read_demo_table(path):
        per_system.setdefault(oid, []).append((code, label))
    return {oid: upsert_concepts(oid, rows, batch_size=batch_size)[0] for oid, rows in per_system.items()}


def ensure_demo_terminology() -> bool:
    """Load the compact table when no CIM-10 concept exists yet (demo seeding). True if it loaded."""
    if Concept.objects.filter(system=OID_CIM10).exists():
        return False
    import_demo_terminology()
    return True


def _system(name: str) -> TerminologySystem:
    try:
        return SYSTEMS[name.strip().lower()]
    except KeyError as exc:
        raise TerminologyError(f"Terminologie inconnue : {name} (connues : {', '.join(SYSTEMS)})") from exc


def resolve_system(name_or_oid: str) -> tuple[str, str]:
    """(OID, code regex or '') for a system name ('cim10'), a search alias ('route') or an OID."""
    key = name_or_oid.strip().lower()
    if key in SEARCH_ALIASES:
        return SEARCH_ALIASES[key]
    if key in SYSTEMS:
        return SYSTEMS[key].oid, ""
    if any(s.oid == name_or_oid for s in SYSTEMS.values()):
        return name_or_oid, ""
    raise TerminologyError(f"Terminologie inconnue : {name_or_oid}")


def concept_label(system: str, code: str) -> str:
    """The label of a code, '' when unknown (one indexed query)."""
    oid, _pattern = resolve_system(system)
    return Concept.objects.filter(system=oid, code=code).values_list("label", flat=True).first() or ""


def concept_exists(system: str, code: str) -> bool | None:
    """True/False when the system is loaded; None when no concept of it was ever imported (cannot tell)."""
    oid, _pattern = resolve_system(system)
    if Concept.objects.filter(system=oid, code=code, active=True).exists():
        return True
    return False if Concept.objects.filter(system=oid).exists() else None
