"""CI-SIS conformity of CDA R2 documents: the CDA XSD (lxml) then the ANS schematrons (saxonche).

The official material is the ANS kit ``TestContenuCDA-3-0`` (github.com/ansforge/TestContenuCDA-3-0), kept outside
the repository (``settings.REFERENCE_DIR / "cda" / "TestContenuCDA-3-0"``, or any directory given by the user):

* ``infrastructure/cda/CDA_extended.xsd``: HL7 CDA R2 schema with the French and IHE extensions;
* ``schematrons/profils/``: the five generic profiles run on every document (header "structuration minimale",
  IHE, CI-SIS content models, ANS content models, terminologies);
* ``schematrons/CI-SIS_<VOLET>_<version>.sch``: one schematron per document model (VSM, IPS-FR, CR-BIO…), run on
  structured (N3) documents only (kit ``00 CI-SIS_TestContenuCDA-LISEZ-MOI.docx`` §5.2.1);
* ``schematrons/moteur/``: the ISO Schematron skeleton in XSLT 2 (include → abstract expand → svrl for XSLT 2),
  the same three passes as the kit's ``compilverif.bat``.

The schematrons declare ``queryBinding="xslt2"``, which lxml's isoschematron refuses: they run on Saxon-HE
(saxonche). Compiling a schematron costs (the header one becomes a 10 MB stylesheet, ~2 s for the three passes,
then ~6 s for Saxon to load it): compiled stylesheets are kept in memory for the process and on disk under a
cache directory keyed by a hash of their sources, so later processes only pay the load. Saxon-HE cannot export
a compiled stylesheet (SEF needs Saxon-EE) and its ``fast_compile`` option breaks every stylesheet at run time
in saxonche 13.1.1 (NullPointerException in TemplateRule.ensureBodyEvaluatorExists), hence the plain XSLT cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from lxml import etree

from caducee.core.xml import DEFAULT_MAX_BYTES, UnsafeXml, local_parser
from caducee.core.xml import parse_untrusted as _parse_untrusted

NS_CDA = "urn:hl7-org:v3"
NS_SCH = "http://purl.oclc.org/dsdl/schematron"
NS_SVRL = "http://purl.oclc.org/dsdl/svrl"

# Largest document accepted. The DMP and MSSanté limits are not stated in the kit; an N3 document with its PDF
# copies (CR-BIO "Copie du document") stays well below this, and anything bigger is refused before parsing.

# Bump when the way a schematron is compiled changes (skeleton parameters, xml:base injection…): old cache
# entries are then ignored.
_CACHE_FORMAT = "caducee-cda-svrl-1"

# The ISO skeleton passes, in order (kit schematrons/moteur/compilverif.bat).
_SKELETON = ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl")
_SKELETON_IMPORTS = ("iso_schematron_skeleton_for_saxon.xsl",)  # xsl:import of iso_svrl_for_xslt2.xsl

# The generic profiles run on every document (kit schematrons/profils/, compilverif.bat), in reporting order.
GENERIC_PROFILES: tuple[str, ...] = (
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "profils/IHE.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
    "profils/terminologies/schematron/terminologie.sch",
)

# Terminology dumps that terminologie.sch reads when present and skips silently when absent (the public copies of
# the kit lack these files of 4 MiB and more): a "0 error" there does not mean these codes were checked.
_LARGE_TERMINOLOGIES = {
    "2.16.840.1.113883.6.1": "LOINC",
    "2.16.840.1.113883.6.96": "SNOMED CT",
    "2.16.840.1.113883.3.26.1.1": "NCIt",
    "1.2.250.1.213.2.62": "UCD",
}

# ClinicalDocument/templateId "root.extension" → volet, i.e. schematron ``schematrons/CI-SIS_<volet>.sch``.
# Source: M-Priour/validateCDA ``mapping.properties`` @ 233e9c3e (the tool run by the kit's CI), copied in
# reference/cda/validateCDA_mapping.properties; duplicate keys resolved as java.util.Properties does (last wins),
# values trimmed. A key ending with "." is a templateId without extension.
_VALIDATECDA_MAPPING: dict[str, str] = {
    "1.2.250.1.213.1.1.1.51.2024.01": "IPS-FR_2024.01",
    "1.2.250.1.213.1.1.1.59.2024.01": "BIO-TROD_2024.01",
    "1.2.250.1.213.1.1.1.40.2022.01": "ANEST-CR-ANEST_2022.01",
    "1.2.250.1.213.1.1.1.41.2022.01": "ANEST-CR-CPA_2022.01",
    "1.2.250.1.213.1.1.1.15.2022.01": "AVC-AUNV_2022.01",
    "1.2.250.1.213.1.1.1.16.2022.01": "AVC-EUNV_2022.01",
    "1.2.250.1.213.1.1.1.25.2022.01": "AVC-PAVC_2022.01",
    "1.2.250.1.213.1.1.1.17.2022.01": "AVC-SUNV_2022.01",
    "1.2.250.1.213.1.1.1.55.": "BIO-CR-BIO_2021.01",
    "1.2.250.1.213.1.1.1.55.2021.01": "BIO-CR-BIO_2021.01",
    "1.2.250.1.213.1.1.1.55.2023.01": "BIO-CR-BIO_2023.01",
    "1.2.250.1.213.1.1.1.55.2024.01": "BIO-CR-BIO_2024.01",
    "1.2.250.1.213.1.1.1.32.2022.01": "CANCER-CR-GM_2022.01",
    "1.2.250.1.213.1.1.1.28.2021.01": "CANCER-D2LM-FIN_2021.01",
    "1.2.250.1.213.1.1.1.28.2022.01": "CANCER-D2LM-FIDD_2022.01",
    "1.2.250.1.213.1.1.1.27.2022.01": "CANCER-D2LM-FIN_2022.01",
    "1.2.250.1.213.1.1.1.8.2022.01": "CANCER-FRCP_2022.01",
    "1.2.250.1.213.1.1.1.8.2025.01": "CANCER-FRCP_2025.01",
    "1.2.250.1.213.1.1.1.26.2022.01": "CANCER-PPS_2022.01",
    "1.2.250.1.213.1.1.1.26.2025.01": "CANCER-PPS_2025.01",
    "1.2.250.1.213.1.1.1.2.1.1.2022.01": "CARD-F-PRC-AVK_2022.01",
    "1.2.250.1.213.1.1.1.2.1.3.2022.01": "CARD-F-PRC-DCI_2022.01",
    "1.2.250.1.213.1.1.1.2.1.5.2022.01": "CARD-F-PRC-PPV_2022.01",
    "1.2.250.1.213.1.1.1.2.1.4.2022.01": "CARD-F-PRC-PSC_2022.01",
    "1.2.250.1.213.1.1.1.2.1.2.2022.01": "CARD-F-PRC-TAP_2022.01",
    "1.2.250.1.213.1.1.1.5.3.2022.01": "CSE-CS24_2022.01",
    "1.2.250.1.213.1.1.1.5.1.2022.01": "CSE-CS8_2022.01",
    "1.2.250.1.213.1.1.1.5.2.2022.01": "CSE-CS9_2022.01",
    "1.2.250.1.213.1.1.1.5.3.2024.01": "CSE-CS24_2025.01",
    "1.2.250.1.213.1.1.1.5.1.2024.01": "CSE-CS8_2024.01",
    "1.2.250.1.213.1.1.1.5.2.2024.01": "CSE-CS9_2024.01",
    "1.2.250.1.213.1.1.1.5.3.2025.01": "CSE-CS24_2025.01",
    "1.2.250.1.213.1.1.1.5.1.2025.01": "CSE-CS8_2025.01",
    "1.2.250.1.213.1.1.1.5.2.2025.01": "CSE-CS9_2025.01",
    "1.2.250.1.213.1.1.1.5.4.2023.01": "CSE-MDE_2023.01",
    "1.2.250.1.213.1.1.1.22.2021.01": "DLU-EHPAD-DLU_2021.01",
    "1.2.250.1.213.1.1.1.22.2022.01": "DLU-EHPAD-DLU_2022.01",
    "1.2.250.1.213.1.1.1.24.2021.01": "DLU-EHPAD-FLUDR_2021.01",
    "1.2.250.1.213.1.1.1.24.2022.01": "DLU-EHPAD-FLUDR_2022.01",
    "1.2.250.1.213.1.1.1.23.2021.01": "DLU-EHPAD-FLUDT_2021.01",
    "1.2.250.1.213.1.1.1.23.2022.01": "DLU-EHPAD-FLUDT_2022.01",
    "1.2.250.1.213.1.1.1.62.2025.01": "DLU-FR-SU_2025.01",
    "1.2.250.1.213.1.1.1.61.2025.01": "DLU-FT-SU_2025.01",
    "1.2.250.1.213.1.1.1.54.2024.01": "eDISP-MED_2024.01",
    "1.2.250.1.213.1.1.1.39.2024.01": "eP-MED-DM_2024.01",
    "1.2.250.1.213.1.1.1.12.5.2024.01": "OBP-SCE_2024.01",
    "1.2.250.1.213.1.1.1.39.2022.01": "EP-MED-DM_2022.01",
    "1.2.250.1.213.1.1.1.39.2023.01": "EP-MED-DM_2023.01",
    "1.2.250.1.213.1.1.1.45.2022.01": "IMG-CR-IMG_2022.01",
    "1.2.250.1.213.1.1.1.45.2024.01": "IMG-CR-IMG_2024.01",
    "1.2.250.1.213.1.1.1.47.2022.01": "IMG-DA-IMG_2022.01",
    "1.2.250.1.213.1.1.1.47.2024.01": "IMG-DA-IMG_2024.01",
    "1.2.250.1.213.1.1.1.21.2021.01": "LDL-EES_2020.01",
    "1.2.250.1.213.1.1.1.21.2022.01": "LDL-EES_2022.01",
    "1.2.250.1.213.1.1.1.29.2021.01": "LDL-SES_2020.01",
    "1.2.250.1.213.1.1.1.29.2022.01": "LDL-SES_2022.01",
    "1.2.250.1.213.1.1.1.12.1.2022.01": "OBP-SAP_2022.01",
    "1.2.250.1.213.1.1.1.12.1.2024.01": "OBP-SAP_2024.01",
    "1.2.250.1.213.1.1.1.12.5.2022.01": "OBP-SCE_2022.01",
    "1.2.250.1.213.1.1.1.12.4.2022.01": "OBP-SCM_2022.01",
    "1.2.250.1.213.1.1.1.12.4.2024.01": "OBP-SCM_2024.01",
    "1.2.250.1.213.1.1.1.12.3.2022.01": "OBP-SNE_2022.01",
    "1.2.250.1.213.1.1.1.12.3.2024.01": "OBP-SNE_2024.01",
    "1.2.250.1.213.1.1.1.12.2.2022.01": "OBP-SNM_2022.01",
    "1.2.250.1.213.1.1.1.12.2.2024.01": "OBP-SNM_2024.01",
    "1.2.250.1.213.1.1.1.42.2022.01": "OPH-BRE_2022.01",
    "1.2.250.1.213.1.1.1.42.2022.02": "OPH-BRE_2022.02",
    "1.2.250.1.213.1.1.1.18.2022.01": "OPH-CR-RTN_2022.01",
    "1.2.250.1.213.1.1.1.20.2021.01": "PPS-PAERPA_2021.01",
    "1.2.250.1.213.1.1.1.20.2022.01": "PPS-PAERPA_2022.01",
    "1.2.250.1.213.1.1.1.30.2021.01": "SDM-MR-2021.01",
    "1.2.250.1.213.1.1.1.30.2022.01": "SDM-MR_2022.01",
    "1.2.250.1.213.1.1.1.30.2025.01": "SDM-MR_2025.01",
    "1.2.250.1.213.1.1.1.38.2021.01": "TLM-DA_2021.01",
    "1.2.250.1.213.1.1.1.38.2022.01": "TLM-DA_2022.01",
    "1.2.250.1.213.1.1.1.46.2023.01": "VAC-NOTE_2023.01",
    "1.2.250.1.213.1.1.1.37.2023.01": "VAC_2023.01",
    "1.2.250.1.213.1.1.1.13.": "VSM_2013 (v1.4)",
    "1.2.250.1.213.1.1.1.13.2022.01": "VSM_1.4_2022.01",
    "1.2.250.1.213.1.1.1.36.2021.01": "CNAM-HR_2021.01",
}

# Where Caducée departs from that mapping, and why.
VOLET_SCHEMATRONS: dict[str, str] = {
    **_VALIDATECDA_MAPPING,
    # The VSM 1.4 model ("VSM 2013") carries extension "201310" (kit ExemplesCDA/VSM_1.4_2022.01.xml), and a VSM
    # without extension is the same model; TCC 3.0 has no "VSM_2013" schematron, its VSM 1.4 schematron is
    # CI-SIS_VSM_1.4_2022.01.sch ("Schématron du Volet de Synthèse Médicale (VSM 2013)"), which only checks the root.
    "1.2.250.1.213.1.1.1.13.": "VSM_1.4_2022.01",
    "1.2.250.1.213.1.1.1.13.201310": "VSM_1.4_2022.01",
    # CI-SIS_VSM_2023.01.sch exists (2023-09-14) but the mapping has no entry for it; its header rule only checks
    # the root, so the extension "2023.01" is our reading of the ANS versioning scheme, not a published fact.
    "1.2.250.1.213.1.1.1.13.2023.01": "VSM_2023.01",
}

# The French document templateIds all live under this arc; 1.2.250.1.213.1.1.1.1 is the common header template
# ("structuration minimale"), checked by the generic profile, not a volet.
_VOLET_ARC = "1.2.250.1.213.1.1.1."
_HEADER_TEMPLATE = "1.2.250.1.213.1.1.1.1"

# Schematron roles that do not make a document non-conformant (kit schematrons: 2183 asserts role="error",
# 166 role="warning", 11 reports role="warning", 1 role="info"; asserts and reports without role are errors:
# the ANS texts say "Erreur de conformité").
_NON_BLOCKING_ROLES = frozenset({"warning", "warn", "info", "information", "informational"})


class CdaKitError(Exception):
    """The ANS kit is absent, incomplete or unusable: nothing can be said about the document."""


class Source(StrEnum):
    XML = "xml"  # the input itself: unreadable, hostile, not a CDA document
    XSD = "xsd"
    SCHEMATRON = "schematron"
    VOLET = "volet"  # which volet schematron applies (unknown model, version not stated…)
    KIT = "kit"  # the ANS kit failed while checking this document


@dataclass(frozen=True)
class Issue:
    """One finding: an XSD error, a failed assert or a successful report, or a problem with the input."""

    source: Source
    message: str
    line: int | None = None
    location: str = ""  # XPath of the node, as the kit's SVRL writes it (human notation, no namespaces)
    schematron: str = ""  # file name of the schematron that reported it
    role: str = ""

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"ligne {self.line}")
        if self.location:
            where.append(self.location)
        origin = self.schematron.removesuffix(".sch") if self.schematron else self.source.value.upper()
        prefix = f"[{origin}]"
        return f"{prefix} {', '.join(where)} : {self.message}" if where else f"{prefix} {self.message}"


@dataclass
class Report:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    volets: list[str] = field(default_factory=list)  # volet schematrons applied, e.g. ["VSM_1.4_2022.01"]
    schematrons: list[str] = field(default_factory=list)  # every schematron run, file names
    notes: list[str] = field(default_factory=list)  # what was and was not checked, in French
    xsd_checked: bool = False  # False when the input could not even be parsed

    @property
    def is_valid(self) -> bool:
        return not self.errors

    def add(self, issue: Issue) -> None:
        (self.warnings if issue.role.lower() in _NON_BLOCKING_ROLES else self.errors).append(issue)

    def format(self, *, warnings: bool = True) -> str:
        """French text for people: verdict, then one line per error (and per warning)."""
        if not self.xsd_checked:
            checked = "document non vérifié"
        else:
            checked = "XSD" + (f" + {len(self.schematrons)} schématrons" if self.schematrons else "")
        if self.is_valid:
            lines = [f"conforme ({checked}), {_plural(len(self.warnings), 'avertissement')}"]
        else:
            lines = [
                f"NON CONFORME ({checked}) : {_plural(len(self.errors), 'erreur')}, "
                f"{_plural(len(self.warnings), 'avertissement')}"
            ]
        lines += [f"  erreur {issue}" for issue in self.errors]
        if warnings:
            lines += [f"  avertissement {issue}" for issue in self.warnings]
        return "\n".join(lines)


def _os_error(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "fichier introuvable"
    if isinstance(exc, IsADirectoryError):
        return "c'est un dossier"
    if isinstance(exc, PermissionError):
        return "accès refusé"
    return str(exc.strerror or exc)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count > 1 else ''}"


def default_kit_dir() -> Path:
    from django.conf import settings

    return Path(settings.REFERENCE_DIR) / "cda" / "TestContenuCDA-3-0"


def default_cache_dir() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "cda-cache"


# --- Safe parsing ---------------------------------------------------------------------------------------------


_DTD_REFUSED = "déclaration DTD (DOCTYPE) refusée : un document CDA n'en contient pas."


def parse_untrusted(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """A CDA document from outside, through the one hardened parser (`core.xml`): a CDA never needs a DTD (HL7 CDA
    R2 is defined by its XSD), so any DOCTYPE is refused."""
    return _parse_untrusted(data, max_bytes=max_bytes, dtd_refused=_DTD_REFUSED)


# --- Schematron compilation and cache --------------------------------------------------------------------------

_processor: Any = None  # saxonche.PySaxonProcessor, one per process (it hosts the Saxon runtime)
_skeleton: dict[Path, list[Any]] = {}  # moteur dir → compiled skeleton passes
# Compiled SVRL stylesheets (PyXsltExecutable) by schematron path. The kit is not expected to change under a
# running process, so the content hash (which reads ~2 MB for the header profile) is only computed on first use.
_executables: dict[tuple[Path, Path], Any] = {}
_schemas: dict[Path, etree.XMLSchema] = {}


def _saxon() -> Any:
    global _processor
    if _processor is None:
        from saxonche import PySaxonProcessor

        _processor = PySaxonProcessor(license=False)
    return _processor


def _resolve_include(target: Path) -> Path:
    """The file a kit path really points to, despite the kit's Windows habits.

    * profils/IHE.sch includes ``E_directiveAnticipee_int.sch`` but the file is ``E_directiveanticipee_int.sch``:
      it only works on a case-insensitive file system. The reference copy adds a symlink, which some copies turn
      into a small text file holding the target's name: both are followed here.
    """
    if target.is_file() and target.stat().st_size < 256:
        content = target.read_bytes().strip()
        if content and not content.startswith(b"<"):
            linked = target.parent / content.decode("utf-8", "replace")
            if linked.is_file():
                return linked
    if not target.exists() and target.parent.is_dir():
        lowered = target.name.lower()
        for candidate in target.parent.iterdir():
            if candidate.name.lower() == lowered:
                return candidate
    return target


def _schematron_sources(sch: Path) -> tuple[bytes, list[Path]]:
    """The schematron with its includes made absolute (and fixed), and every file it depends on."""
    tree = etree.parse(str(sch), local_parser())
    files = [sch]
    for include in tree.iter(f"{{{NS_SCH}}}include"):
        href = include.get("href")
        if not href or ":" in href:  # absolute URIs are left to Saxon
            continue
        target = _resolve_include(sch.parent / href)
        if not target.is_file():
            raise CdaKitError(f"Kit CI-SIS incomplet : {sch.name} inclut {href}, introuvable.")
        include.set("href", target.resolve().as_uri())
        files.append(target)
    return etree.tostring(tree, encoding="utf-8", xml_declaration=True), files


def _cache_key(sch: Path, text: bytes, files: list[Path], moteur: Path) -> str:
    digest = hashlib.sha256()
    digest.update(_CACHE_FORMAT.encode())
    # The compiled stylesheet carries xml:base = the schematron's location, so the location is part of the key.
    digest.update(sch.resolve().as_uri().encode())
    digest.update(text)
    for path in [*files[1:], *(moteur / name for name in (*_SKELETON, *_SKELETON_IMPORTS))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _compile_to_file(sch: Path, text: bytes, moteur: Path, output: Path) -> None:
    """Run the three ISO skeleton passes (kit compilverif.bat) and write the SVRL stylesheet."""
    saxon = _saxon()
    passes = _skeleton.get(moteur)
    if passes is None:
        xslt = saxon.new_xslt30_processor()
        passes = [xslt.compile_stylesheet(stylesheet_file=str(moteur / name)) for name in _SKELETON]
        # The SVRL is only read for failed asserts and successful reports: skip the fired-rule elements, which
        # are most of the output on a large document.
        passes[-1].set_parameter("generate-fired-rule", saxon.make_string_value("false"))
        _skeleton[moteur] = passes
    builder = saxon.new_document_builder()
    builder.set_base_uri(sch.resolve().as_uri())
    node = builder.parse_xml(xml_text=text.decode("utf-8"), encoding="UTF-8")
    for step in passes[:-1]:
        node = step.transform_to_value(xdm_node=node).head
    stylesheet = passes[-1].transform_to_string(xdm_node=node)
    # The rules call doc('include/voc-….xml'), doc('../jeuxDeValeurs/….xml'), doc('../terminologie/….rdf') relative
    # to the stylesheet, which the kit's .bat writes next to its .sch. The kit may be read-only: the stylesheet goes
    # to the cache and xml:base points its static base URI back to the schematron.
    match = re.search(r"<xsl:stylesheet\b", stylesheet)
    if match is None:
        raise CdaKitError(f"Compilation du schématron {sch.name} : pas de feuille XSLT produite.")
    stylesheet = f'{stylesheet[: match.end()]} xml:base="{sch.resolve().as_uri()}"{stylesheet[match.end() :]}'
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=output.stem, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(stylesheet)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache may be shared by the practice's processes
    os.replace(tmp, output)  # atomic: a concurrent process never loads half a file


def _compiled_schematron(sch: Path, moteur: Path, cache_dir: Path | None) -> Any:
    """The SVRL stylesheet of a schematron: from memory, else from the disk cache, else compiled."""
    memo = (sch.resolve(), moteur.resolve())
    executable = _executables.get(memo)
    if executable is not None:
        return executable
    from saxonche import PySaxonApiError

    text, files = _schematron_sources(sch)
    key = _cache_key(sch, text, files, moteur)

    xslt = _saxon().new_xslt30_processor()
    try:
        if cache_dir is not None:
            cached = cache_dir / f"{sch.stem}-{key[:24]}.xsl"
            try:
                if not cached.is_file():
                    _compile_to_file(sch, text, moteur, cached)
                try:
                    executable = xslt.compile_stylesheet(stylesheet_file=str(cached))
                except PySaxonApiError:
                    # A damaged cache entry (edited, disk full when it was written…): compile it again, once.
                    cached.unlink(missing_ok=True)
                    _compile_to_file(sch, text, moteur, cached)
                    executable = xslt.compile_stylesheet(stylesheet_file=str(cached))
            except OSError:  # cache not writable: compile anyway, the process keeps the result in memory
                executable = None
        if executable is None:
            with tempfile.TemporaryDirectory(prefix="caducee-cda-") as tmp:
                target = Path(tmp) / f"{sch.stem}.xsl"
                _compile_to_file(sch, text, moteur, target)
                executable = xslt.compile_stylesheet(stylesheet_file=str(target))
    except PySaxonApiError as exc:
        raise CdaKitError(f"Compilation du schématron {sch.name} impossible : {exc}") from exc
    _executables[memo] = executable
    return executable


# --- Volet selection --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoletChoice:
    volets: list[str]
    notes: list[str]
    warnings: list[str]


def _template_ids(root: etree._Element) -> list[tuple[str, str]]:
    return [(t.get("root", ""), t.get("extension", "")) for t in root.findall(f"{{{NS_CDA}}}templateId")]


def choose_volets(root: etree._Element, schematron_dir: Path) -> VoletChoice:
    """The volet schematrons a document claims, from its ClinicalDocument/templateId root + extension."""
    notes: list[str] = []
    warnings: list[str] = []
    if root.find(f"{{{NS_CDA}}}component/{{{NS_CDA}}}nonXMLBody") is not None:
        # Volet schematrons describe structured bodies only (LISEZ-MOI §5.2.1): an N1 document gets the generic
        # profiles, which check its XDS-SD templateIds (StrucMin).
        return VoletChoice([], ["document non structuré (N1) : profils génériques seulement."], [])
    volets: list[str] = []
    for template_root, extension in _template_ids(root):
        if not template_root.startswith(_VOLET_ARC) or template_root == _HEADER_TEMPLATE:
            continue
        volet = VOLET_SCHEMATRONS.get(f"{template_root}.{extension}")
        label = f"{template_root}" + (f" extension {extension}" if extension else " sans extension")
        if volet is None:
            warnings.append(f"modèle de document {label} inconnu : profils génériques seulement.")
            continue
        if not extension:
            warnings.append(f"templateId {label} : version du volet non indiquée, {volet} supposée.")
        sch = _resolve_include(schematron_dir / f"CI-SIS_{volet}.sch")
        if not sch.is_file():
            warnings.append(f"schématron du volet {volet} ({label}) absent du kit : profils génériques seulement.")
            continue
        # The mapping says "eP-MED-DM_2024.01" where the file is CI-SIS_EP-MED-DM_2024.01.sch (fine on Windows).
        volet = sch.stem.removeprefix("CI-SIS_")
        if volet not in volets:
            volets.append(volet)
    if volets:
        notes.append("volet : " + ", ".join(volets))
    return VoletChoice(volets, notes, warnings)


# --- The validator ----------------------------------------------------------------------------------------------


class CdaValidator:
    """XSD + schematron validation of CDA documents against an ANS TestContenuCDA kit.

    Not thread-safe (one Saxon processor per process); build it once and reuse it: the first use of each
    schematron pays its compilation (or, with a warm disk cache, its load).
    """

    def __init__(
        self,
        kit_dir: Path | None = None,
        *,
        cache_dir: Path | None = None,
        use_cache: bool = True,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.kit_dir = Path(kit_dir) if kit_dir is not None else default_kit_dir()
        self.xsd_path = self.kit_dir / "infrastructure" / "cda" / "CDA_extended.xsd"
        self.schematron_dir = self.kit_dir / "schematrons"
        self.moteur_dir = self.schematron_dir / "moteur"
        self.cache_dir = (cache_dir or default_cache_dir()) if use_cache else None
        self.max_bytes = max_bytes
        missing = [
            path
            for path in [self.xsd_path, *(self.moteur_dir / n for n in _SKELETON)]
            + [self.schematron_dir / p for p in GENERIC_PROFILES]
            if not path.is_file()
        ]
        if missing:
            raise CdaKitError(
                f"Kit CI-SIS TestContenuCDA introuvable ou incomplet : {missing[0]} manque. Indiquez le dossier "
                "du kit de l'ANS (github.com/ansforge/TestContenuCDA-3-0) avec --cisis "
                "(ou CADUCEE_REFERENCE_DIR, qui contient cda/TestContenuCDA-3-0)."
            )
        terminologies = self.schematron_dir / "profils" / "terminologies" / "terminologie"
        absent = [name for oid, name in _LARGE_TERMINOLOGIES.items() if not (terminologies / f"{oid}.rdf").is_file()]
        self.kit_notes = [f"terminologies absentes du kit, codes non vérifiés : {', '.join(absent)}."] if absent else []

    # Compilation ---------------------------------------------------------------------------------------------

    def schema(self) -> etree.XMLSchema:
        schema = _schemas.get(self.xsd_path)
        if schema is None:
            try:
                schema = etree.XMLSchema(etree.parse(str(self.xsd_path), local_parser()))
            except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
                raise CdaKitError(f"Schéma CDA {self.xsd_path} illisible : {exc}") from exc
            _schemas[self.xsd_path] = schema
        return schema

    def schematron(self, relative: str) -> Any:
        """The compiled SVRL stylesheet of ``schematrons/<relative>``."""
        sch = self.schematron_dir / relative
        if not sch.is_file():
            raise CdaKitError(f"Schématron {relative} absent du kit {self.kit_dir}.")
        return _compiled_schematron(sch, self.moteur_dir, self.cache_dir)

    def precompile(self, volets: Iterable[str] = ()) -> None:
        """Compile (or load) the XSD, the generic profiles and the given volets now, e.g. at start-up."""
        self.schema()
        for relative in [*GENERIC_PROFILES, *(f"CI-SIS_{v}.sch" for v in volets)]:
            self.schematron(relative)

    # Validation ----------------------------------------------------------------------------------------------

    def validate_file(self, path: Path) -> Report:
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                report = Report()
                report.add(Issue(Source.XML, f"document trop volumineux ({size} octets, maximum {self.max_bytes})."))
                return report
            data = path.read_bytes()
        except OSError as exc:
            report = Report()
            report.add(Issue(Source.XML, f"lecture impossible : {_os_error(exc)}."))
            return report
        return self.validate(data)

    def validate(self, xml: bytes) -> Report:
        report = Report()
        try:
            tree = parse_untrusted(xml, max_bytes=self.max_bytes)
        except UnsafeXml as exc:
            report.add(Issue(Source.XML, str(exc)))
            return report
        root = tree.getroot()
        if root.tag != f"{{{NS_CDA}}}ClinicalDocument":
            message = f"élément racine {root.tag} : un document CDA commence par ClinicalDocument."
            report.add(Issue(Source.XML, message, line=_source_line(root)))
            return report

        schema = self.schema()
        report.xsd_checked = True
        if not schema.validate(tree):
            for entry in cast(Any, schema.error_log):  # lxml-stubs: _ErrorLog is iterable
                report.add(Issue(Source.XSD, entry.message, line=entry.line or None))

        choice = choose_volets(root, self.schematron_dir)
        report.volets = choice.volets
        report.notes += [*choice.notes, *self.kit_notes]
        for text in choice.warnings:
            report.add(Issue(Source.VOLET, text, role="warning"))

        from saxonche import PySaxonApiError

        # Saxon gets the tree lxml already checked (no DTD, no entity): it never parses the raw input itself.
        try:
            document = _saxon().parse_xml(xml_text=etree.tostring(root, encoding="unicode"), encoding="UTF-8")
        except PySaxonApiError as exc:
            report.add(Issue(Source.KIT, f"document illisible pour Saxon, schématrons non exécutés : {exc}".strip()))
            return report
        for relative in [*GENERIC_PROFILES, *(f"CI-SIS_{v}.sch" for v in choice.volets)]:
            name = Path(relative).name
            report.schematrons.append(name)
            self._run_schematron(relative, name, document, root, report)
        return report

    def _run_schematron(self, relative: str, name: str, document: Any, root: etree._Element, report: Report) -> None:
        from saxonche import PySaxonApiError

        executable = self.schematron(relative)
        try:
            svrl = executable.transform_to_string(xdm_node=document)
        except PySaxonApiError as exc:
            # A dynamic error is a kit problem (e.g. a value set file doc() cannot open), but the document was
            # not checked: that is an error, never a pass.
            report.add(Issue(Source.KIT, f"exécution du schématron impossible : {exc}".strip(), schematron=name))
            return
        for issue in _svrl_issues(svrl, name, root):
            report.add(issue)


def _svrl_issues(svrl: str, schematron: str, root: etree._Element) -> list[Issue]:
    output = etree.fromstring(svrl.encode("utf-8"), local_parser(huge_text=True))  # Saxon's own SVRL output
    issues = []
    for node in output.iter(f"{{{NS_SVRL}}}failed-assert", f"{{{NS_SVRL}}}successful-report"):
        text = node.find(f"{{{NS_SVRL}}}text")
        raw = etree.tostring(text, method="text", encoding="unicode") if text is not None else node.get("test", "")
        message = " ".join(raw.split())
        location = node.get("location", "")
        issues.append(
            Issue(
                Source.SCHEMATRON,
                message,
                line=_line_of(root, location),
                location=location,
                schematron=schematron,
                role=node.get("role", ""),
            )
        )
    return issues


_STEP = re.compile(r"^(?P<name>[^\[\]/@]+)(?:\[(?P<index>\d+)\])?$")


def _line_of(root: etree._Element, location: str) -> int | None:
    """Source line of a SVRL location.

    The kit's skeleton writes locations in its "human" notation (iso_svrl_for_xslt2.xsl, full-path-notation 2):
    ``/ClinicalDocument/component/structuredBody/component[3]/section``: element names as prefixed in the
    document, a position only when earlier siblings share the name.
    """
    steps = [step for step in location.split("/") if step]
    if not steps or steps[0].startswith("@"):
        return None
    node: etree._Element | None = None
    for step in steps:
        if step.startswith("@"):
            break
        match = _STEP.match(step)
        if match is None:
            return _source_line(node)
        name, index = match["name"], int(match["index"] or 1)
        candidates = [root] if node is None else [child for child in node if isinstance(child.tag, str)]
        same = [c for c in candidates if _prefixed_name(c) == name]
        if len(same) < index:
            return _source_line(node)
        node = same[index - 1]
    return _source_line(node)


def _source_line(node: etree._Element | None) -> int | None:
    line = node.sourceline if node is not None else None
    return line if isinstance(line, int) else None


def _prefixed_name(element: etree._Element) -> str:
    local = etree.QName(element).localname
    return f"{element.prefix}:{local}" if element.prefix else local
