"""CI-SIS validation of CDA documents: official examples pass, broken ones fail with the ANS message, hostile
input is refused, and `caducee check-cda` reports it all with a meaningful exit code."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from lxml import etree

from caducee.documents import validation
from caducee.documents.validation import CdaKitError, CdaValidator, Source, choose_volets, parse_untrusted

EXAMPLES = Path(settings.REFERENCE_DIR) / "cda" / "examples"
NS = {"cda": "urn:hl7-org:v3"}
CDA = "{urn:hl7-org:v3}"


def example(name: str) -> bytes:
    path = EXAMPLES / name
    assert path.is_file(), f"exemple officiel introuvable : {path} (CADUCEE_REFERENCE_DIR)"
    return path.read_bytes()


def mutate(name: str, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(example(name))
    change(root)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def remove(xpath: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        nodes = root.xpath(xpath, namespaces=NS)
        assert isinstance(nodes, list) and nodes, xpath
        for node in nodes:
            assert isinstance(node, etree._Element)
            parent = node.getparent()
            assert parent is not None
            parent.remove(node)

    return change


def messages(issues: list[validation.Issue]) -> list[str]:
    return [issue.message for issue in issues]


# --- Official examples (TestContenuCDA-3-0 ExemplesCDA @ 7cd489b3) ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "volets", "schematrons"),
    [
        ("VSM_1.4_2022.01.xml", ["VSM_1.4_2022.01"], 6),  # templateId …1.13 extension 201310
        ("IPS-FR_2024.01.xml", ["IPS-FR_2024.01"], 6),
        ("DOC_NON_STRUCTURE_CDA-R2-N1.xml", [], 5),  # N1: generic profiles only (LISEZ-MOI §5.2.1)
        ("BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml", [], 5),
        ("BIO-CR-BIO_2024.01_CR-2nde-intention-PDF.xml", ["BIO-CR-BIO_2024.01"], 6),
        # The mapping names the volet "eP-MED-DM_2024.01", the kit's file is CI-SIS_EP-MED-DM_2024.01.sch.
        ("eP-MED-DM_2024.01_PosoStruct.xml", ["EP-MED-DM_2024.01"], 6),
    ],
)
def test_official_examples_are_conformant(
    cda_validator: CdaValidator, name: str, volets: list[str], schematrons: int
) -> None:
    report = cda_validator.validate(example(name))
    assert report.is_valid, report.format()
    assert report.errors == [] and report.warnings == []
    assert report.volets == volets
    assert len(report.schematrons) == schematrons
    assert report.schematrons[:5] == [
        "ASIP-STRUCT-MIN-StrucMin.sch",
        "IHE.sch",
        "CI-SIS_ModelesDeContenusCDA.sch",
        "CI-SIS_Modeles_ANS.sch",
        "terminologie.sch",
    ]


def test_cr_bio_2024_examples_without_extension_get_the_2021_schematron(cda_validator: CdaValidator) -> None:
    """BIO-CR-BIO_2024.01_TSH_1.xml carries templateId 1.2.250.1.213.1.1.1.55 with no extension. The validateCDA
    mapping (used by the kit's CI) reads that as BIO-CR-BIO_2021.01, whose header rule refuses the 2024 PDF-copy
    section: the official example fails, exactly as it would in the ANS chain. With extension="2024.01" it passes.
    """
    report = cda_validator.validate(example("BIO-CR-BIO_2024.01_TSH_1.xml"))
    assert report.volets == ["BIO-CR-BIO_2021.01"]
    assert len(report.errors) == 1
    error = report.errors[0]
    assert error.schematron == "CI-SIS_BIO-CR-BIO_2021.01.sch"
    assert error.message.startswith(
        "[Entete_CR-BIO] Erreur de conformité : un CR-BIO ne peut comporter que les sections de niveau 1 suivantes"
    )
    assert error.location == "/ClinicalDocument/component/structuredBody/component[2]/section"
    assert error.line == 684
    assert messages(report.warnings) == [
        "templateId 1.2.250.1.213.1.1.1.55 sans extension : version du volet non indiquée, BIO-CR-BIO_2021.01 supposée."
    ]

    def add_extension(root: etree._Element) -> None:
        for template in root.findall(f"{CDA}templateId[@root='1.2.250.1.213.1.1.1.55']"):
            template.set("extension", "2024.01")

    fixed = cda_validator.validate(mutate("BIO-CR-BIO_2024.01_TSH_1.xml", add_extension))
    assert fixed.is_valid, fixed.format()
    assert fixed.volets == ["BIO-CR-BIO_2024.01"]


# --- Broken documents fail with the ANS message ---------------------------------------------------------------

INS_TRAITS = (
    "(SMDS_CDAClinicalDocument): Erreur de conformité CI-SIS : Dans le cadre de l'INS, les traits de l'INS "
    "(Nom de naissance, premier prénom de l'acte de naissance, prénoms de l’acte de naissance, date de naissance, "
    "lieu de naissance (COG) et sexe) sont obligatoires"
)
BIRTH_TIME_REQUIRED = "(CI-SISRecordTarget): element hl7:birthTime is required [min 1x]."


def test_ins_patient_without_birth_time_breaks_the_ins_traits_rule(cda_validator: CdaValidator) -> None:
    # StrucMin 1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch: with an INS id (root 1.2.250.1.213.1.4.8/.9/.10/.11)
    # every INS trait is required, birthTime included. The VSM example uses a test NIR (…4.10).
    xml = mutate("VSM_1.4_2022.01.xml", remove("cda:recordTarget/cda:patientRole/cda:patient/cda:birthTime"))
    report = cda_validator.validate(xml)
    assert not report.is_valid
    assert [(e.schematron, e.location, e.message) for e in report.errors] == [
        ("ASIP-STRUCT-MIN-StrucMin.sch", "/ClinicalDocument", INS_TRAITS),
        ("ASIP-STRUCT-MIN-StrucMin.sch", "/ClinicalDocument/recordTarget/patientRole/patient", BIRTH_TIME_REQUIRED),
    ]
    patient = etree.fromstring(xml).find(f"{CDA}recordTarget/{CDA}patientRole/{CDA}patient")
    assert patient is not None
    assert report.errors[1].line == patient.sourceline
    assert all(e.source is Source.SCHEMATRON and e.role == "error" for e in report.errors)


def test_ins_traits_rule_only_applies_to_an_ins_identifier(cda_validator: CdaValidator) -> None:
    def drop_ins_and_birth_time(root: etree._Element) -> None:
        remove("cda:recordTarget/cda:patientRole/cda:patient/cda:birthTime")(root)
        remove("cda:recordTarget/cda:patientRole/cda:id[@root='1.2.250.1.213.1.4.10']")(root)

    report = cda_validator.validate(mutate("VSM_1.4_2022.01.xml", drop_ins_and_birth_time))
    assert messages(report.errors) == [BIRTH_TIME_REQUIRED]


def test_vsm_without_vigilance_section_breaks_the_vsm_schematron(cda_validator: CdaValidator) -> None:
    # CI-SIS_VSM_1.4_2022.01.sch requires section 1.3.6.1.4.1.19376.1.5.3.1.3.27 (points de vigilance, named
    # "Résultats" by the schematron).
    section = "cda:component/cda:structuredBody/cda:component[cda:section/cda:templateId/@root='{}']"
    xml = mutate("VSM_1.4_2022.01.xml", remove(section.format("1.3.6.1.4.1.19376.1.5.3.1.3.27")))
    report = cda_validator.validate(xml)
    assert [(e.schematron, e.location, e.message) for e in report.errors] == [
        (
            "CI-SIS_VSM_1.4_2022.01.sch",
            "/ClinicalDocument/component/structuredBody",
            '[VSM] Erreur de conformité au volet VSM : La section "Résultats" (1.3.6.1.4.1.19376.1.5.3.1.3.27) '
            "doit être présente.",
        )
    ]
    assert str(report.errors[0]).startswith(
        f"[CI-SIS_VSM_1.4_2022.01] ligne {report.errors[0].line}, /ClinicalDocument/component/structuredBody : "
    )


def test_ips_without_medical_devices_section_breaks_the_ips_schematron(cda_validator: CdaValidator) -> None:
    section = "cda:component/cda:structuredBody/cda:component[cda:section/cda:templateId/@root='{}']"
    xml = mutate("IPS-FR_2024.01.xml", remove(section.format("1.3.6.1.4.1.19376.1.5.3.1.1.5.3.5")))
    report = cda_validator.validate(xml)
    assert [e.schematron for e in report.errors] == ["CI-SIS_IPS-FR_2024.01.sch"]
    assert "1.3.6.1.4.1.19376.1.5.3.1.1.5.3.5" in report.errors[0].message


def test_unknown_element_is_an_xsd_error_with_its_line(cda_validator: CdaValidator) -> None:
    def add_bogus(root: etree._Element) -> None:
        title = root.find(f"{CDA}title")
        assert title is not None
        title.addnext(etree.Element(f"{CDA}bogus"))

    xml = mutate("VSM_1.4_2022.01.xml", add_bogus)
    report = cda_validator.validate(xml)
    bogus = etree.fromstring(xml).find(f"{CDA}bogus")
    assert bogus is not None
    assert [(e.source, e.line, e.message) for e in report.errors] == [
        (
            Source.XSD,
            bogus.sourceline,
            "Element '{urn:hl7-org:v3}bogus': This element is not expected. "
            "Expected is ( {urn:hl7-org:v3}effectiveTime ).",
        )
    ]
    # StrucMin (ART-DECOR) also flags it, as a warning ("closed" template check).
    assert [(w.schematron, w.location) for w in report.warnings] == [
        ("ASIP-STRUCT-MIN-StrucMin.sch", "/ClinicalDocument/bogus")
    ]


def test_n1_without_xds_sd_template_breaks_the_header_rule(cda_validator: CdaValidator) -> None:
    # StrucMin: a nonXMLBody requires templateId 1.3.6.1.4.1.19376.1.2.20 (IHE XDS-SD).
    xml = mutate("DOC_NON_STRUCTURE_CDA-R2-N1.xml", remove("cda:templateId[@root='1.3.6.1.4.1.19376.1.2.20']"))
    report = cda_validator.validate(xml)
    assert not report.is_valid
    assert {e.schematron for e in report.errors} == {"ASIP-STRUCT-MIN-StrucMin.sch"}
    assert any("1.3.6.1.4.1.19376.1.2.20" in e.message for e in report.errors), report.format()


# --- Hostile or broken input ----------------------------------------------------------------------------------

XXE = b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&x;</title></ClinicalDocument>'  # noqa: E501
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    b'<ClinicalDocument xmlns="urn:hl7-org:v3">&d;&d;&d;&d;&d;&d;&d;&d;</ClinicalDocument>'
)
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://example.org/cda.dtd"><ClinicalDocument/>'


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (XXE, "déclaration DTD (DOCTYPE) refusée : un document CDA n'en contient pas."),
        (LAUGHS, "déclaration DTD (DOCTYPE) refusée : un document CDA n'en contient pas."),
        (EXTERNAL_DTD, "déclaration DTD (DOCTYPE) refusée : un document CDA n'en contient pas."),
        (b"%PDF-1.4 pas du XML", "XML illisible : Start tag expected, '<' not found, line 1, column 1."),
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>", "XML illisible :"),
        (b"  \n", "document vide."),
        (b"<document/>", "élément racine document : un document CDA commence par ClinicalDocument."),
    ],
)
def test_hostile_or_broken_input_is_refused_before_any_check(
    cda_validator: CdaValidator, data: bytes, expected: str
) -> None:
    report = cda_validator.validate(data)
    assert not report.is_valid and not report.xsd_checked and report.schematrons == []
    assert len(report.errors) == 1
    assert report.errors[0].source is Source.XML
    assert report.errors[0].message.startswith(expected)
    assert "root:" not in report.format()  # nothing of /etc/passwd leaks


def test_parse_untrusted_never_resolves_entities() -> None:
    with pytest.raises(validation.UnsafeXml):
        parse_untrusted(XXE)
    utf16 = XXE.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    with pytest.raises(validation.UnsafeXml, match="DTD"):
        parse_untrusted(utf16)
    # A DOCTYPE hidden after 64 KiB of comments is still refused once parsed (and never expanded).
    padded = b"<?xml version='1.0'?>" + b"<!--" + b"x" * 70_000 + b"-->" + XXE[XXE.index(b"<!DOCTYPE") :]
    with pytest.raises(validation.UnsafeXml, match="DTD"):
        parse_untrusted(padded)


def test_parse_untrusted_accepts_a_large_embedded_pdf() -> None:
    # An N1 document carries its PDF as a single base64 text node: 11 MB is past libxml2's default limit.
    pdf = b"A" * (11 * 1024 * 1024)
    xml = (
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><text mediaType="application/pdf">'
        + pdf
        + b"</text></ClinicalDocument>"
    )
    root = parse_untrusted(xml).getroot()
    assert len(root[0].text or "") == len(pdf)


def test_oversized_document_is_refused_unparsed(tmp_path: Path) -> None:
    small = CdaValidator(max_bytes=1000)  # no schematron is compiled for this
    report = small.validate(example("VSM_1.4_2022.01.xml"))
    assert messages(report.errors) == [
        f"document trop volumineux ({len(example('VSM_1.4_2022.01.xml'))} octets, maximum 1000)."
    ]
    big = tmp_path / "gros.xml"
    big.write_bytes(b" " * 1001)
    assert messages(small.validate_file(big).errors) == ["document trop volumineux (1001 octets, maximum 1000)."]
    assert messages(small.validate_file(tmp_path / "absent.xml").errors) == [
        "lecture impossible : fichier introuvable."
    ]


# --- Volet selection, kit quirks, cache ----------------------------------------------------------------------


def _header(*templates: tuple[str, str], body: str = "structuredBody") -> etree._Element:
    ids = "".join(f'<templateId root="{r}"' + (f' extension="{e}"' if e else "") + "/>" for r, e in templates)
    return etree.fromstring(
        f'<ClinicalDocument xmlns="urn:hl7-org:v3">{ids}<component><{body}/></component></ClinicalDocument>'
    )


def test_volet_is_chosen_from_the_document_template_id(cda_validator: CdaValidator) -> None:
    sch = cda_validator.schematron_dir
    header = ("1.2.250.1.213.1.1.1.1", "")
    assert choose_volets(_header(header, ("1.2.250.1.213.1.1.1.51", "2024.01")), sch).volets == ["IPS-FR_2024.01"]
    assert choose_volets(_header(header, ("1.2.250.1.213.1.1.1.13", "2023.01")), sch).volets == ["VSM_2023.01"]
    assert choose_volets(_header(header, ("1.2.250.1.213.1.1.1.55", "2024.01")), sch).volets == ["BIO-CR-BIO_2024.01"]
    generic = choose_volets(_header(header), sch)
    assert generic.volets == [] and generic.warnings == []
    unknown = choose_volets(_header(header, ("1.2.250.1.213.1.1.1.51", "2099.01")), sch)
    assert unknown.volets == []
    assert unknown.warnings == [
        "modèle de document 1.2.250.1.213.1.1.1.51 extension 2099.01 inconnu : profils génériques seulement."
    ]
    # Mapped by validateCDA, but TCC 3.0 only has DLU-EHPAD-DLU_2022.01.
    absent = choose_volets(_header(header, ("1.2.250.1.213.1.1.1.22", "2021.01")), sch)
    assert absent.volets == [] and "absent du kit" in absent.warnings[0]
    n1 = choose_volets(_header(header, ("1.2.250.1.213.1.1.1.55", "2024.01"), body="nonXMLBody"), sch)
    assert n1.volets == [] and n1.notes == ["document non structuré (N1) : profils génériques seulement."]


def test_include_resolution_follows_the_kit_windows_habits(tmp_path: Path) -> None:
    real = tmp_path / "E_directiveanticipee_int.sch"
    real.write_text("<pattern/>")
    # The reference copy stores the Linux fix (a symlink) as a small file holding the target's name.
    pseudo_link = tmp_path / "E_directiveAnticipee_int.sch"
    pseudo_link.write_text("E_directiveanticipee_int.sch")
    assert validation._resolve_include(pseudo_link) == real
    pseudo_link.unlink()
    assert validation._resolve_include(pseudo_link) == real  # case-insensitive match, as on Windows
    assert validation._resolve_include(tmp_path / "absent.sch") == tmp_path / "absent.sch"


def test_compiled_schematron_is_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    validator = CdaValidator(cache_dir=tmp_path)
    relative = "CI-SIS_VSM_1.4_2022.01.sch"
    monkeypatch.setattr(validation, "_executables", {})
    validator.schematron(relative)
    [cached] = tmp_path.glob("CI-SIS_VSM_1.4_2022.01-*.xsl")
    assert b'xml:base="file://' in cached.read_bytes()[:2000]

    # A new process (empty memory cache) loads the file without compiling.
    monkeypatch.setattr(validation, "_executables", {})

    def no_compile(*args: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(validation, "_compile_to_file", no_compile)
    validator.schematron(relative)

    # A damaged entry is compiled again.
    monkeypatch.undo()
    monkeypatch.setattr(validation, "_executables", {})
    cached.write_text("<xsl:stylesheet")
    validator = CdaValidator(cache_dir=tmp_path)
    executable = validator.schematron(relative)
    assert cached.read_bytes().startswith(b"<?xml")
    assert executable is not None

    # An unusable cache directory only costs the compilation.
    monkeypatch.setattr(validation, "_executables", {})
    (tmp_path / "un-fichier").write_text("")
    unwritable = CdaValidator(cache_dir=tmp_path / "un-fichier" / "cache")
    assert unwritable.schematron(relative) is not None


def test_missing_kit_is_a_clear_french_error(tmp_path: Path) -> None:
    with pytest.raises(CdaKitError, match=r"Kit CI-SIS TestContenuCDA introuvable ou incomplet : .*CDA_extended\.xsd"):
        CdaValidator(tmp_path)


# --- caducee check-cda ----------------------------------------------------------------------------------------


def test_check_cda_command_reports_each_file(
    cda_validator: CdaValidator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    valid = EXAMPLES / "VSM_1.4_2022.01.xml"
    broken = tmp_path / "vsm-sans-naissance.xml"
    broken.write_bytes(
        mutate("VSM_1.4_2022.01.xml", remove("cda:recordTarget/cda:patientRole/cda:patient/cda:birthTime"))
    )
    call_command("check_cda", str(valid))
    assert f"{valid} : conforme (XSD + 6 schématrons), 0 avertissement" in capsys.readouterr().out

    with pytest.raises(CommandError) as failure:
        call_command("check_cda", str(valid), str(broken))
    assert failure.value.returncode == 1
    assert str(failure.value) == "1 document(s) sur 2 non conforme(s)."
    out = capsys.readouterr().out
    assert f"{broken} : NON CONFORME (XSD + 6 schématrons) : 2 erreurs, 0 avertissement" in out
    assert f"erreur [ASIP-STRUCT-MIN-StrucMin] ligne 36, /ClinicalDocument : {INS_TRAITS}" in out
    assert "Note : terminologies absentes du kit" in out

    with pytest.raises(CommandError) as no_kit:
        call_command("check_cda", str(valid), cisis=str(tmp_path))
    assert no_kit.value.returncode == 2


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caducee.cli", "check-cda", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_check_cda_cli_exit_codes(tmp_path: Path) -> None:
    # Inputs refused before the schematrons: no compilation in the child process, the test stays fast.
    garbage = tmp_path / "ordonnance.pdf"
    garbage.write_bytes(b"%PDF-1.4")
    refused = _cli(str(garbage))
    assert refused.returncode == 1
    assert f"{garbage} : NON CONFORME (document non vérifié) : 1 erreur" in refused.stdout
    assert "XML illisible" in refused.stdout
    assert "1 document(s) sur 1 non conforme(s)." in refused.stderr

    no_kit = _cli(str(garbage), "--cisis", str(tmp_path))
    assert no_kit.returncode == 2
    assert "Kit CI-SIS TestContenuCDA introuvable" in no_kit.stderr
