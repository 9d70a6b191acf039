"""INSi SOAP 1.2 messages: build the requests, parse the answers (WSDL DESIR_ICIR_EXP_1.5.0).

Requests carry, in the WSDL order of the binding's headers, ContexteLPS (which software, which
installation: IDAM R="4" = the CNDA authorisation number), wsa:MessageID, ContexteBAM (empty
COUVERTURE) and wsa:Action (notes §3.1). The body is RECSANSVITALE (search by traits) or RECVITALE
(search with the carte Vitale data).

Answers are read defensively: 1 MB at most, no DTD (XXE), no entity expansion, no network access,
and a structural check mirroring INSi_RESULTAT_INS.xsd. One deliberate tolerance: inside
INSACTIF/INSHISTO the real service sends DateDeb/DateFin *before* IdIndividu (CNDA TEST_2.04), which
the official XSD's sequence rejects; we accept those four children in any order.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from lxml import etree

from caducee.core.oids import (
    INSI_ACTION_TRAITS,
    INSI_ACTION_VITALE,
    NS_CTXBAM,
    NS_CTXLPS,
    NS_INSI_RECSANS,
    NS_INSI_RECVIT,
    NS_INSI_RESULTAT,
    NS_SIRAM,
    NS_SOAP12,
    NS_WSA,
)
from caducee.core.xml import UnsafeXml, parse_untrusted

MAX_MESSAGE_BYTES = 1_000_000
_XML_NS = "http://www.w3.org/XML/1998/namespace"

# INSi_RESULTAT_INS.xsd patterns.
_NIR_RE = re.compile(r"^\d{6}[A-Za-z0-9]\d{6}$")
_CLE_RE = re.compile(r"^[0-9]{2}$")
_SEXE_RE = re.compile(r"^[A-Z]$")
_DATE_LUNAIRE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KNOWN_CODES = {"00", "01", "02"}


class MalformedMessage(ValueError):
    """An XML message we refuse to read; the message says why, in French."""


# ---------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class LpsContext:
    """Who calls: the software (IDAM, name, version), this installation, and the emitter."""

    idam: str
    software_name: str
    software_version: str
    instance: str
    emetteur: str = ""


@dataclass(frozen=True)
class BuiltRequest:
    xml: bytes
    action: str
    message_id: str  # "uuid:…", also put in wsa:MessageID


def instance_id(data_dir: Path) -> str:
    """The per-installation uuid sent as ContexteLPS/LPS/Instance, created once in DATA_DIR."""
    path = Path(data_dir) / "instance_id"
    try:
        value = path.read_text(encoding="ascii").strip()
        return str(uuid.UUID(value))
    except (FileNotFoundError, ValueError):
        value = str(uuid.uuid4())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n", encoding="ascii")
        return value


def _timestamp(now: datetime | None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _sub(parent: etree._Element, ns: str, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _envelope(
    action: str, context: LpsContext, message_id: str | None, now: datetime | None
) -> tuple[etree._Element, etree._Element, str]:
    nsmap = {
        "soap": NS_SOAP12,
        "wsa": NS_WSA,
        "ctxlps": NS_CTXLPS,
        "ctxbam": NS_CTXBAM,
        "insi_recsans_ins": NS_INSI_RECSANS,
        "insi_recvit_ins": NS_INSI_RECVIT,
    }
    envelope = etree.Element(f"{{{NS_SOAP12}}}Envelope", nsmap=nsmap)  # type: ignore[arg-type]
    header = _sub(envelope, NS_SOAP12, "Header")
    temps = _timestamp(now)
    message_id = message_id or f"uuid:{uuid.uuid4()}"

    lps = _sub(header, NS_CTXLPS, "ContexteLPS")
    lps.set("Nature", "CTXLPS")
    lps.set("Version", "01_00")
    _sub(lps, NS_CTXLPS, "Id", str(uuid.uuid4()))
    _sub(lps, NS_CTXLPS, "Temps", temps)
    if context.emetteur:
        _sub(lps, NS_CTXLPS, "Emetteur", context.emetteur)
    software = _sub(lps, NS_CTXLPS, "LPS")
    _sub(software, NS_CTXLPS, "IDAM", context.idam).set("R", "4")
    _sub(software, NS_CTXLPS, "Version", context.software_version)
    _sub(software, NS_CTXLPS, "Instance", context.instance)
    _sub(software, NS_CTXLPS, "Nom", f"urn:lps:{context.software_name}:{context.software_version}")

    _sub(header, NS_WSA, "MessageID", message_id)

    bam = _sub(header, NS_CTXBAM, "ContexteBAM")
    bam.set("Version", "01_02")
    _sub(bam, NS_CTXBAM, "Id", str(uuid.uuid4()))
    _sub(bam, NS_CTXBAM, "Temps", temps)
    if context.emetteur:
        _sub(bam, NS_CTXBAM, "Emetteur", context.emetteur)
    _sub(bam, NS_CTXBAM, "COUVERTURE")

    _sub(header, NS_WSA, "Action", action)
    body = _sub(envelope, NS_SOAP12, "Body")
    return envelope, body, message_id


def _serialize(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def build_traits_request(
    *,
    birth_name: str,
    given_names: Sequence[str],
    sex: str,
    birth_date: str,
    birthplace_cog: str | None,
    context: LpsContext,
    message_id: str | None = None,
    now: datetime | None = None,
) -> BuiltRequest:
    """rechercherInsAvecTraitsIdentite.

    Body RECSANSVITALE(NomNaissance, Prenom*, Sexe, DateNaissance, LieuNaissance?).
    """
    envelope, body, message_id = _envelope(INSI_ACTION_TRAITS, context, message_id, now)
    request = _sub(body, NS_INSI_RECSANS, "RECSANSVITALE")
    _sub(request, NS_INSI_RECSANS, "NomNaissance", birth_name)
    for given_name in given_names:
        _sub(request, NS_INSI_RECSANS, "Prenom", given_name)
    _sub(request, NS_INSI_RECSANS, "Sexe", sex)
    _sub(request, NS_INSI_RECSANS, "DateNaissance", birth_date)
    if birthplace_cog:
        _sub(request, NS_INSI_RECSANS, "LieuNaissance", birthplace_cog)
    return BuiltRequest(xml=_serialize(envelope), action=INSI_ACTION_TRAITS, message_id=message_id)


def build_vitale_request(
    *,
    nir_individu: str | None,
    nir_od: str,
    birth_name: str,
    birth_date: str,
    rang: str,
    context: LpsContext,
    message_id: str | None = None,
    now: datetime | None = None,
) -> BuiltRequest:
    """rechercherInsAvecCarteVitale.

    Body RECVITALE(MatriculeIndividu?, MatriculeOD, NomNaissance, DateNaissance, RangNaissance).
    The NIRs are 15 characters (13 + key), as read on the card.
    """
    envelope, body, message_id = _envelope(INSI_ACTION_VITALE, context, message_id, now)
    request = _sub(body, NS_INSI_RECVIT, "RECVITALE")
    for tag, nir in (("MatriculeIndividu", nir_individu), ("MatriculeOD", nir_od)):
        if nir:
            matricule = _sub(request, NS_INSI_RECVIT, tag)
            _sub(matricule, NS_INSI_RECVIT, "NumIdentifiant", nir[:13])
            _sub(matricule, NS_INSI_RECVIT, "Cle", nir[13:15])
    _sub(request, NS_INSI_RECVIT, "NomNaissance", birth_name)
    _sub(request, NS_INSI_RECVIT, "DateNaissance", birth_date)
    _sub(request, NS_INSI_RECVIT, "RangNaissance", rang)
    return BuiltRequest(xml=_serialize(envelope), action=INSI_ACTION_VITALE, message_id=message_id)


# ---------------------------------------------------------------------------------------------
# Answers


@dataclass(frozen=True)
class InsRecord:
    """INSACTIF or INSHISTO: a matricule (13 + key) and the OID of its assigning authority."""

    matricule: str
    key: str | None
    oid: str
    type_matricule: str | None = None
    start: str | None = None  # DateDeb
    end: str | None = None  # DateFin


@dataclass(frozen=True)
class ReturnedTraits:
    """TIQ: the reference strict traits held by the CNAM."""

    birth_name: str
    given_name: str  # Prenom (often absent)
    given_names: str  # ListePrenom, space-separated
    sex: str
    birth_date: str
    birthplace: str


@dataclass(frozen=True)
class Resultat:
    code: str
    label: str
    active: InsRecord | None = None
    history: list[InsRecord] = field(default_factory=list)
    traits: ReturnedTraits | None = None


@dataclass(frozen=True)
class Fault:
    """A SOAP 1.2 Fault: Code/Value, Subcode/Value, Reason/Text, Detail/siram:Erreur."""

    code: str  # Sender | Receiver | …, without prefix
    subcode: str  # e.g. siram_40, without prefix
    reason: str
    detail_code: str  # e.g. insi_102, desir_550
    detail: str
    severity: str = ""


def safe_parse(data: bytes) -> etree._Element:
    """Parse untrusted XML through the one hardened parser (`core.xml`): size-bounded, no DTD, no entities, no
    network (XXE, billion laughs); comments and processing instructions dropped."""
    try:
        tree = parse_untrusted(
            data,
            max_bytes=MAX_MESSAGE_BYTES,
            huge_text=False,
            strip_comments=True,
            dtd_refused="Déclaration DTD refusée dans un message SOAP.",
        )
    except UnsafeXml as exc:
        raise MalformedMessage(_sentence(str(exc))) from exc
    return tree.getroot()


def _sentence(text: str) -> str:
    """« document vide. » → « Message vide. »: the INSi answer is a message."""
    if text.startswith("document "):
        text = "message " + text.removeprefix("document ")
    return text[:1].upper() + text[1:]


def soap_body(root: etree._Element) -> etree._Element:
    """The single element in soap:Body of a SOAP 1.2 envelope."""
    if root.tag != f"{{{NS_SOAP12}}}Envelope":
        raise MalformedMessage(f"Enveloppe SOAP 1.2 attendue, reçu {_display(root.tag)}.")
    bodies = root.findall(f"{{{NS_SOAP12}}}Body")
    if len(bodies) != 1:
        raise MalformedMessage("Enveloppe SOAP sans corps (Body) unique.")
    children = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(children) != 1:
        raise MalformedMessage(f"Le corps SOAP doit contenir un seul élément ({len(children)} reçus).")
    return children[0]


def parse_response(data: bytes) -> Resultat | Fault:
    """Read an INSi answer: a RESULTAT, or a SOAP Fault (raise MalformedMessage otherwise)."""
    payload = soap_body(safe_parse(data))
    if payload.tag == f"{{{NS_SOAP12}}}Fault":
        return _parse_fault(payload)
    if payload.tag != f"{{{NS_INSI_RESULTAT}}}RESULTAT":
        qname = etree.QName(payload)
        raise MalformedMessage(
            f"Réponse inattendue : {qname.localname} (espace de noms {qname.namespace or 'aucun'}) "
            f"au lieu de RESULTAT ({NS_INSI_RESULTAT})."
        )
    return _parse_resultat(payload)


def _display(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) and tag.startswith("{") else str(tag)


def _local(value: str) -> str:
    """'S:siram_40' → 'siram_40' (SOAP fault codes are QNames)."""
    return value.strip().rsplit(":", 1)[-1]


def _parse_fault(fault: etree._Element) -> Fault:
    soap = f"{{{NS_SOAP12}}}"
    code = fault.findtext(f"{soap}Code/{soap}Value") or ""
    if not code.strip():
        raise MalformedMessage("Erreur SOAP sans code.")
    subcode = fault.findtext(f"{soap}Code/{soap}Subcode/{soap}Value") or ""
    texts = fault.findall(f"{soap}Reason/{soap}Text")
    french = [t for t in texts if t.get(f"{{{_XML_NS}}}lang", "").startswith("fr")]
    reason = " ".join(((french or texts)[0].text or "").split()) if texts else ""
    erreur = fault.find(f"{soap}Detail/{{{NS_SIRAM}}}Erreur")
    detail_code = erreur.get("code", "") if erreur is not None else ""
    detail = " ".join((erreur.text or "").split()) if erreur is not None else ""
    severity = erreur.get("severite", "") if erreur is not None else ""
    return Fault(
        code=_local(code),
        subcode=_local(subcode) if subcode else "",
        reason=reason,
        detail_code=detail_code,
        detail=detail,
        severity=severity,
    )


def _children(element: etree._Element, allowed: Sequence[str]) -> list[etree._Element]:
    """Child elements, all in the RESULTAT namespace and among the allowed names."""
    children = [child for child in element if isinstance(child.tag, str)]
    for child in children:
        qname = etree.QName(child)
        if qname.namespace != NS_INSI_RESULTAT or qname.localname not in allowed:
            raise MalformedMessage(f"Élément inattendu {qname.localname} dans {etree.QName(element).localname}.")
    if element.text and element.text.strip():
        raise MalformedMessage(f"Texte inattendu dans {etree.QName(element).localname}.")
    return children


def _single(children: list[etree._Element], name: str, *, required: bool) -> etree._Element | None:
    found = [child for child in children if etree.QName(child).localname == name]
    if len(found) > 1:
        raise MalformedMessage(f"Élément {name} répété.")
    if required and not found:
        raise MalformedMessage(f"Élément obligatoire {name} absent.")
    return found[0] if found else None


def _text(children: list[etree._Element], name: str, *, required: bool = False) -> str:
    element = _single(children, name, required=required)
    if element is None:
        return ""
    if len(element):
        raise MalformedMessage(f"L'élément {name} ne doit contenir que du texte.")
    return (element.text or "").strip()


def _names(children: list[etree._Element]) -> list[str]:
    return [etree.QName(child).localname for child in children]


def _parse_resultat(resultat: etree._Element) -> Resultat:
    children = _children(resultat, ("CR", "INDIVIDU"))
    if not children or _names(children)[0] != "CR" or _names(children).count("CR") != 1:
        raise MalformedMessage("RESULTAT doit commencer par un unique CR.")
    cr = _children(children[0], ("CodeCR", "LibelleCR"))
    if _names(cr) != ["CodeCR", "LibelleCR"]:
        raise MalformedMessage("CR doit contenir CodeCR puis LibelleCR.")
    code = _text(cr, "CodeCR", required=True)
    label = _text(cr, "LibelleCR", required=True)
    if code not in KNOWN_CODES:
        raise MalformedMessage(f"Code retour INSi inconnu : {code!r}.")
    individu = _single(children, "INDIVIDU", required=False)
    if code != "00":
        if individu is not None:
            raise MalformedMessage(f"Code retour {code} accompagné d'une identité.")
        return Resultat(code=code, label=label)
    if individu is None:
        raise MalformedMessage("Code retour 00 sans identité (INDIVIDU).")
    parts = _children(individu, ("INSACTIF", "INSHISTO", "TIQ"))
    names = _names(parts)
    if names.count("INSACTIF") != 1 or names[0] != "INSACTIF" or names.count("TIQ") != 1 or names[-1] != "TIQ":
        raise MalformedMessage("INDIVIDU doit contenir INSACTIF, INSHISTO éventuels puis TIQ.")
    active = _parse_ins(parts[0])
    history = [_parse_ins(part) for part in parts[1:-1]]
    return Resultat(code=code, label=label, active=active, history=history, traits=_parse_tiq(parts[-1]))


def _parse_ins(element: etree._Element) -> InsRecord:
    # Order of these four children tolerated: CNDA TEST_2.04 sends DateDeb/DateFin first.
    children = _children(element, ("IdIndividu", "OID", "DateDeb", "DateFin"))
    id_individu = _single(children, "IdIndividu", required=True)
    assert id_individu is not None
    ids = _children(id_individu, ("NumIdentifiant", "Cle", "TypeMatricule"))
    order = [name for name in ("NumIdentifiant", "Cle", "TypeMatricule") if name in _names(ids)]
    if _names(ids) != order:
        raise MalformedMessage("IdIndividu : éléments dans le désordre.")
    number = _text(ids, "NumIdentifiant", required=True)
    if not _NIR_RE.match(number):
        raise MalformedMessage(f"NumIdentifiant invalide : {number!r}.")
    key = _text(ids, "Cle") if _single(ids, "Cle", required=False) is not None else None
    if key is not None and not _CLE_RE.match(key):
        raise MalformedMessage(f"Clé invalide : {key!r}.")
    oid = _text(children, "OID", required=True)
    if not oid:
        raise MalformedMessage("OID vide.")
    dates: dict[str, str | None] = {}
    for name in ("DateDeb", "DateFin"):
        value = _text(children, name) if _single(children, name, required=False) is not None else None
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError as exc:
                raise MalformedMessage(f"{name} invalide : {value!r}.") from exc
        dates[name] = value
    type_matricule = _text(ids, "TypeMatricule") or None
    return InsRecord(
        matricule=number.upper(),
        key=key,
        oid=oid,
        type_matricule=type_matricule,
        start=dates["DateDeb"],
        end=dates["DateFin"],
    )


_TIQ_ORDER = ("NomNaissance", "Prenom", "ListePrenom", "Sexe", "DateNaissance", "LieuNaissance")


def _parse_tiq(element: etree._Element) -> ReturnedTraits:
    children = _children(element, _TIQ_ORDER)
    names = _names(children)
    if names != [name for name in _TIQ_ORDER if name in names]:
        raise MalformedMessage("TIQ : éléments répétés ou dans le désordre.")
    sex = _text(children, "Sexe")
    if sex and not _SEXE_RE.match(sex):
        raise MalformedMessage(f"Sexe invalide : {sex!r}.")
    birth_date = _text(children, "DateNaissance")
    if birth_date and not _DATE_LUNAIRE_RE.match(birth_date):
        raise MalformedMessage(f"DateNaissance invalide : {birth_date!r}.")
    return ReturnedTraits(
        birth_name=_text(children, "NomNaissance"),
        given_name=_text(children, "Prenom"),
        given_names=" ".join(_text(children, "ListePrenom").split()),
        sex=sex,
        birth_date=birth_date,
        birthplace=_text(children, "LieuNaissance"),
    )
