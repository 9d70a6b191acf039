"""Annuaire Santé sandbox: a synthetic public extraction and a small HTTPS FHIR API v2 (issue 5 §5, §7).

The real Annuaire Santé has no test environment ("Il n'existe pas d'environnement bac à sable", annuaire_doc
api-basics.md); this one stands in for it with fictitious people:

- `generate_extraction(path, rows=N, seed=…)` writes an `Extraction_Correspondance_MSSante` file shaped like the
  public one (31 pipe-separated columns, header, UTF-8; PER and ORG mailboxes; a few addresses on two lines).
  Names are drawn from common French surnames and given names and from made-up syllables; professions and
  specialties are the real TRE_G15 / TRE_R38 codes and labels (CI-SIS JDV_J01); cities are real towns with their
  postal codes. The demo practice's mailboxes (`claire.martin@demo.mssante.fr`, `hugo.bernard@demo.mssante.fr`,
  the secretariat) and its outside cardiologist always come first.
- `start_annuaire_sandbox(...)` serves Practitioner, PractitionerRole and Organization searches over HTTPS (TLS ≥ 1.2,
  no client certificate needed, like the national gateway) under `/fhir/v2`: GET or POST `/_search`, parameters
  `name` (starts-with, accents and case ignored; `:contains`, `:exact`), `mailbox-mss` (starts-with; `:contains`,
  `:exact`), `identifier`, PractitionerRole's `practitioner` and `organization` (comma = or), `_count` (≤ 50 by
  default, like the real service), `_include=PractitionerRole:practitioner` and `PractitionerRole:organization`;
  Bundles of type searchset with `total` and a `next` link
  (`_getpagesoffset`); the `ESANTE-API-KEY` header checked (401 + OperationOutcome otherwise); PUT/DELETE 405.
  MSS mailboxes are `telecom` entries carrying the `as-ext-mailbox-mss-metadata` extension (type, description,
  service, listeRouge); one mailbox is on the liste rouge and one structure has a plain contact e-mail, as in the
  real data, so a client must read the extension.
"""

from __future__ import annotations

import collections
import json
import logging
import random
import re
import ssl
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from caducee.sandbox.tls import MutualTlsServer, SandboxRequestHandler

logger = logging.getLogger("caducee.sandbox.annuaire")

BASE_PATH = "/fhir/v2"
RESOURCES = ("Practitioner", "PractitionerRole", "Organization")
PAGE_SIZE = 50
MAX_COUNT = 500
DEFAULT_FHIR_ROWS = 400
FAULT_KINDS = ("http_503", "garbage", "slow", "drop_connection")

EXT_MAILBOX = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata"
EXT_EMAIL_TYPE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-contact-point-email-type"
SYS_EMAIL_TYPE = "https://mos.esante.gouv.fr/NOS/TRE_R256-TypeMessagerie/FHIR/TRE-R256-TypeMessagerie"
SYS_TYPE_BAL = "https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL"
SYS_PROFESSION = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
SYS_SAVOIR_FAIRE = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
SYS_IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
SYS_RPPS = "https://rpps.esante.gouv.fr"
SYS_IDNST = "urn:oid:1.2.250.1.71.4.2.2"

HEADER = (
    "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|"
    "Type identifiant structure|Identification Structure|Service de rattachement|Civilité d'exercice|"
    "Nom d'exercice|Prénom d'exercice|Catégorie profession|Libellé de catégorie profession|Code Profession|"
    "Libellé Profession|Code savoir-faire|Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|"
    "Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION|L3COMPLEMENTDISTRIBUTION|L4NUMEROVOIE|"
    "L4COMPLEMENTNUMEROVOIE|NL4TYPEVOIE|L4LIBELLEVOIE|L5LIEUDITMENTION|L6LIGNEACHEMINEMENT|Code postal|"
    "Département|Pays"
)

# -- synthetic people --------------------------------------------------------------------------------------------

# Frequent French surnames (weights roughly follow their frequency) and made-up syllables for the long tail.
_SURNAMES = (
    "MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL LEFEBVRE LEROY ROUX DAVID "
    "BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE ROUSSEAU VINCENT MULLER LEFEVRE FAURE ANDRE "
    "MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER FRANCOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLEMENT MORIN "
    "NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON MARCHAND DUVAL DENIS DUMONT MARIE LEMAIRE NOEL MEYER DUFOUR "
    "MEUNIER BRUN BLANCHARD GIRAUD JOLY RIVIERE LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GERARD ROCHE RENARD "
    "SCHMITT ROY LEROUX COLIN VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE "
    "BOURGEOIS PIERRE BENOIT REY LECLERC PAYET ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT HUBERT "
    "BERGER CARPENTIER SANCHEZ DUPUIS MOULIN LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER FLEURY ROYER KLEIN JACQUET "
    "ADAM PARIS POIRIER MARTY AUBRY GUYOT CARRE CHARLES RENAULT CHARPENTIER MENARD MAILLARD BARON BERTIN BAILLY "
    "HERVE SCHNEIDER FERNANDEZ LE_GALL COLLET LEGER BOUVIER JULIEN PREVOST MILLET PERROT DANIEL LE_ROUX COUSIN "
    "GERMAIN BRETON BESSON LANGLOIS REMY LE_GOFF PELLETIER LEVEQUE PERRIER LEBLANC BARRE LEBRUN MARCHAL WEBER "
    "MALLET HAMON BOULANGER JACOB MONNIER MICHAUD RODRIGUEZ GUICHARD GILLET ETIENNE GRONDIN POULAIN TESSIER "
    "CHEVALLIER COLLIN CHAUVIN DA_SILVA BOUCHET GAY LEMAITRE BENARD MARECHAL HUMBERT REYNAUD ANTOINE HOARAU "
    "PERRET BARTHELEMY CORDIER PICHON LEJEUNE GILBERT LAMY DELAUNAY PASQUIER CARLIER LAPORTE N'GUYEN D'ALMEIDA "
    "SAINT-MARTIN DE_LA_FONTAINE"
).split()
_SYLLABLES = (
    "BA BE BI BO BOU CA CAR CHA CHE CO DA DE DEL DU FA FE FO GA GAR GI GO GRA JA LA LAN LE LI LO LOU MA MAR ME MI MO "
    "MON NA NE NI NO PA PE PI PO RA RE RI RO SA SE SI SO TA TE TI TO VA VE VI VO"
).split()
_ENDINGS = ("", "", "T", "N", "RD", "UD", "AUD", "ET", "IER", "EAU", "IN", "AC", "OT", "ERT", "ANT", "ELLE")
_GIVEN = (
    "Marie Jean Pierre Michel Philippe Nathalie Isabelle Sylvie Catherine Françoise Nicolas Christophe Stéphane "
    "Sébastien Julien Claire Hugo Anne Sophie Céline Julie Aurélie Camille Émilie Thomas Alexandre Antoine Maxime "
    "Mathieu Laurent Élodie Hélène Caroline Valérie Sandrine Laure Agnès Benoît François Jérôme Olivier Patrick "
    "Bruno Denis Éric Frédéric Guillaume Louis Lucie Léa Manon Chloé Inès Sarah Yasmine Mehdi Karim Rachid Fatima "
    "Amina Nadia Youssef Thi Minh Anh Zoé Noémie Gaëlle Maëlle Loïc Yannick Ronan Solène Margaux Clémence Bérénice "
    "Jean-Marc Jean-Luc Marie-Claire Anne-Sophie Pierre-Yves Marie-Hélène"
).split()
# (code TRE_G15, label, weight, Mailiz domain, civilité d'exercice)
_PROFESSIONS = (
    ("10", "Médecin", 46, "medecin.mssante.fr", "DR"),
    ("60", "Infirmier", 15, "infirmier.mssante.fr", ""),
    ("21", "Pharmacien", 10, "pharmacien.mssante.fr", "DR"),
    ("70", "Masseur-Kinésithérapeute", 10, "masseur-kinesitherapeute.mssante.fr", ""),
    ("40", "Chirurgien-Dentiste", 6, "chirurgien-dentiste.mssante.fr", "DR"),
    ("50", "Sage-Femme", 4, "sagefemme.mssante.fr", ""),
    ("80", "Pédicure-Podologue", 2, "pedicure-podologue.mssante.fr", ""),
    ("91", "Orthophoniste", 2, "ortho.mssante.fr", ""),
    ("92", "Orthoptiste", 1, "ortho.mssante.fr", ""),
    ("95", "Diététicien", 1, "sante.mssante.fr", ""),
    ("96", "Psychomotricien", 1, "sante.mssante.fr", ""),
    ("98", "Manipulateur ERM", 2, "sante.mssante.fr", ""),
)
# Médecins' savoir-faire (TRE_R38 codes and labels as in CI-SIS JDV_J01), with weights.
_SPECIALTIES = (
    ("SM54", "Médecine Générale", 38),
    ("SM26", "Qualifié en Médecine Générale", 8),
    ("SM53", "Spécialiste en Médecine Générale", 4),
    ("SM04", "Cardiologie et maladies vasculaires", 5),
    ("SM02", "Anesthésie-réanimation", 5),
    ("SM44", "Radio-diagnostic", 4),
    ("SM42", "Psychiatrie", 5),
    ("SM40", "Pédiatrie", 4),
    ("SM38", "Ophtalmologie", 3),
    ("SM20", "Gynécologie-obstétrique", 3),
    ("SM15", "Dermatologie et Vénéréologie", 2),
    ("SM24", "Gastro-entérologie et hépatologie", 2),
    ("SM41", "Pneumologie", 2),
    ("SM32", "Neurologie", 2),
    ("SM48", "Rhumatologie", 2),
    ("SM34", "ORL et Chirurgie cervico-faciale", 2),
    ("SM08", "Chirurgie orthopédique et Traumatologie", 2),
    ("SM18", "Gériatrie", 2),
    ("SM30", "Néphrologie", 1),
    ("SM16", "Endocrinologie et métabolisme", 1),
    ("SM27", "Médecine interne", 1),
    ("SM59", "Médecine d'urgence", 2),
    ("SM03", "Biologie médicale", 1),
    ("SM19", "Gynécologie médicale", 1),
)
# Real towns: (name, postal code, département, weight).
_CITIES = (
    ("PARIS", "75011", "75", 60),
    ("PARIS", "75015", "75", 40),
    ("PARIS", "75018", "75", 30),
    ("MARSEILLE", "13008", "13", 30),
    ("MARSEILLE", "13005", "13", 20),
    ("LYON", "69003", "69", 25),
    ("LYON", "69007", "69", 15),
    ("TOULOUSE", "31000", "31", 25),
    ("NICE", "06000", "06", 18),
    ("NANTES", "44000", "44", 16),
    ("MONTPELLIER", "34000", "34", 15),
    ("STRASBOURG", "67000", "67", 15),
    ("BORDEAUX", "33000", "33", 16),
    ("LILLE", "59000", "59", 15),
    ("RENNES", "35000", "35", 12),
    ("REIMS", "51100", "51", 8),
    ("TOULON", "83000", "83", 8),
    ("SAINT-ÉTIENNE", "42000", "42", 8),
    ("LE HAVRE", "76600", "76", 7),
    ("GRENOBLE", "38000", "38", 8),
    ("DIJON", "21000", "21", 7),
    ("ANGERS", "49000", "49", 7),
    ("NÎMES", "30000", "30", 6),
    ("VILLEURBANNE", "69100", "69", 6),
    ("CLERMONT-FERRAND", "63000", "63", 7),
    ("LE MANS", "72000", "72", 6),
    ("AIX-EN-PROVENCE", "13100", "13", 6),
    ("BREST", "29200", "29", 6),
    ("TOURS", "37000", "37", 6),
    ("AMIENS", "80000", "80", 6),
    ("LIMOGES", "87000", "87", 6),
    ("ANNECY", "74000", "74", 5),
    ("PERPIGNAN", "66000", "66", 5),
    ("BOULOGNE-BILLANCOURT", "92100", "92", 5),
    ("METZ", "57000", "57", 5),
    ("BESANÇON", "25000", "25", 5),
    ("ORLÉANS", "45000", "45", 5),
    ("ROUEN", "76000", "76", 6),
    ("MULHOUSE", "68100", "68", 4),
    ("CAEN", "14000", "14", 5),
    ("NANCY", "54000", "54", 5),
    ("SAINT-DENIS", "97400", "974", 5),
    ("ARGENTEUIL", "95100", "95", 3),
    ("MONTREUIL", "93100", "93", 3),
    ("ROUBAIX", "59100", "59", 3),
    ("TOURCOING", "59200", "59", 2),
    ("AVIGNON", "84000", "84", 4),
    ("POITIERS", "86000", "86", 4),
    ("PAU", "64000", "64", 4),
    ("LA ROCHELLE", "17000", "17", 4),
    ("AJACCIO", "20000", "2A", 2),
    ("BASTIA", "20200", "2B", 2),
    ("VANNES", "56000", "56", 3),
    ("QUIMPER", "29000", "29", 3),
    ("BAYONNE", "64100", "64", 3),
    ("CHAMBÉRY", "73000", "73", 3),
    ("VALENCE", "26000", "26", 3),
    ("TROYES", "10000", "10", 2),
    ("LORIENT", "56100", "56", 2),
    ("NIORT", "79000", "79", 2),
    ("COLMAR", "68000", "68", 2),
    ("BOURG-EN-BRESSE", "01000", "01", 2),
    ("SAINT-MALO", "35400", "35", 2),
    ("ALBI", "81000", "81", 2),
    ("CARCASSONNE", "11000", "11", 2),
    ("AURILLAC", "15000", "15", 1),
    ("GUÉRET", "23000", "23", 1),
    ("MENDE", "48000", "48", 1),
    ("FOIX", "09000", "09", 1),
    ("CAYENNE", "97300", "973", 1),
    ("FORT-DE-FRANCE", "97200", "972", 1),
    ("POINTE-À-PITRE", "97110", "971", 1),
    ("VILLEFRANCHE-SUR-SAÔNE", "69400", "69", 1),
    ("SAINT-PRIEST", "69800", "69", 1),
    ("L'ISLE-D'ABEAU", "38080", "38", 1),
)
_STREET_TYPES = ("RUE", "RUE", "RUE", "AV", "BD", "PL", "CHE", "ALL", "IMP", "QUAI")
_STREET_NAMES = (
    "DE LA REPUBLIQUE",
    "VICTOR HUGO",
    "JEAN JAURES",
    "DU GENERAL DE GAULLE",
    "PASTEUR",
    "DES LILAS",
    "DE LA GARE",
    "DU MARECHAL FOCH",
    "GAMBETTA",
    "DES ECOLES",
    "DE LA LIBERATION",
    "NATIONALE",
    "DU CHATEAU",
    "DES TILLEULS",
    "CLEMENCEAU",
    "DE L'EGLISE",
    "DU MOULIN",
    "SAINT-MICHEL",
    "ANATOLE FRANCE",
    "DES ACACIAS",
)
_ORG_SERVICES = (
    "Service de cardiologie",
    "Service des urgences",
    "Service de pédiatrie",
    "Service de médecine interne",
    "Secrétariat médical",
    "Service d'imagerie médicale",
    "Laboratoire de biologie médicale",
    "Service de pneumologie",
    "Maternité",
    "Service de psychiatrie adulte",
    "Pharmacie à usage intérieur",
)
_ORG_KINDS = (
    ("CENTRE HOSPITALIER DE {city}", "ch-{slug}.mssante.fr", "1"),
    ("CLINIQUE {street} {city}", "clinique-{slug}.mssante.fr", "1"),
    ("CENTRE DE SANTE DE {city}", "cds-{slug}.mssante.fr", "1"),
    ("LABORATOIRE BIOLAB {city}", "biolab.mssante.fr", "3"),
    ("MAISON DE SANTE PLURIPROFESSIONNELLE DE {city}", "msp-{slug}.mssante.fr", "3"),
    ("EHPAD LES {street}", "ehpad.mssante.fr", "1"),
)

# The demo practice (caducee.mss.demo, caducee.cabinet.demo): the same fictitious people and sandbox mailboxes.
DEMO_DOMAIN = "demo.mssante.fr"
DEMO_ROWS: tuple[dict[str, Any], ...] = (
    {
        "kind": "PER",
        "address": f"claire.martin@{DEMO_DOMAIN}",
        "rpps": "89970012345",
        "civility": "DR",
        "family": "MARTIN",
        "given": "Claire",
        "prof": "10",
        "sf": "SM54",
        "org": "MAISON DE SANTE DES TILLEULS",
        "num": "12",
        "type": "RUE",
        "street": "DES TILLEULS",
        "cp": "69003",
        "city": "LYON",
        "dept": "69",
    },
    {
        "kind": "PER",
        "address": f"hugo.bernard@{DEMO_DOMAIN}",
        "rpps": "89970023456",
        "civility": "DR",
        "family": "BERNARD",
        "given": "Hugo",
        "prof": "10",
        "sf": "SM54",
        "org": "MAISON DE SANTE DES TILLEULS",
        "num": "12",
        "type": "RUE",
        "street": "DES TILLEULS",
        "cp": "69003",
        "city": "LYON",
        "dept": "69",
    },
    {
        "kind": "ORG",
        "address": f"secretariat.tilleuls@{DEMO_DOMAIN}",
        "org": "MAISON DE SANTE DES TILLEULS",
        "service": "Secrétariat",
        "num": "12",
        "type": "RUE",
        "street": "DES TILLEULS",
        "cp": "69003",
        "city": "LYON",
        "dept": "69",
    },
    {
        "kind": "PER",
        "address": f"anne.leroy@{DEMO_DOMAIN}",
        "rpps": "99700456789",
        "civility": "DR",
        "family": "LEROY",
        "given": "Anne",
        "prof": "10",
        "sf": "SM04",
        "org": "CABINET DE CARDIOLOGIE BELLECOUR",
        "num": "4",
        "type": "PL",
        "street": "BELLECOUR",
        "cp": "69002",
        "city": "LYON",
        "dept": "69",
    },
)
_PROFESSION_LABELS = {code: label for code, label, *_ in _PROFESSIONS}
_SPECIALTY_LABELS = {code: label for code, label, _ in _SPECIALTIES}


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return "".join(ch if ch.isalnum() else "-" for ch in plain).strip("-").replace("--", "-")


@dataclass
class SyntheticRow:
    """One line of the synthetic extraction, kept as named values (the FHIR sandbox builds resources from them)."""

    kind: str
    address: str
    rpps: str = ""
    civility: str = ""
    family: str = ""
    given: str = ""
    prof: str = ""
    sf: str = ""
    org: str = ""
    service: str = ""
    structure_id: str = ""
    structure_type: str = ""
    num: str = ""
    type: str = ""
    street: str = ""
    cp: str = ""
    city: str = ""
    dept: str = ""
    demat: str = "O"
    red_list: bool = False

    def columns(self) -> list[str]:
        """The 31 values of an Extraction_Correspondance_MSSante line."""
        per = self.kind == "PER" and self.rpps
        return [
            self.kind,
            self.address,
            "8" if per else "",
            self.rpps if per else "",
            "8" + self.rpps if per else "",
            self.structure_type,
            (self.structure_type + self.structure_id) if self.structure_id else "",
            self.service,
            self.civility,
            self.family,
            self.given,
            "C" if per else "",
            "Civil" if per else "",
            self.prof,
            _PROFESSION_LABELS.get(self.prof, ""),
            self.sf,
            _SPECIALTY_LABELS.get(self.sf, ""),
            self.demat,
            self.org,
            "",
            "",
            "",
            self.num,
            "",
            self.type,
            self.street,
            "",
            f"{self.cp} {self.city}".strip(),
            self.cp,
            self.dept,
            "FRANCE" if self.cp else "",
        ]


def _weighted(rng: random.Random, items: tuple[Any, ...], weight_index: int) -> Iterator[Any]:
    """An endless weighted draw (cumulative weights computed once)."""
    weights = [item[weight_index] for item in items]
    while True:
        yield from rng.choices(items, weights=weights, k=1024)


def synthetic_rows(rows: int, seed: int | str = 2026) -> Iterator[SyntheticRow]:
    """`rows` lines: the demo rows first, then fictitious professionals (≈ 85 % PER) and structures (ORG)."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by seed)
    cities = _weighted(rng, _CITIES, 3)
    professions = _weighted(rng, _PROFESSIONS, 2)
    specialties = _weighted(rng, _SPECIALTIES, 2)
    surname_weights = [1.0 / (rank + 8) for rank in range(len(_SURNAMES))]
    used: collections.Counter[str] = collections.Counter()
    produced = 0
    previous: SyntheticRow | None = None
    for demo in DEMO_ROWS[:rows]:
        row = SyntheticRow(**demo)
        used[row.address] += 1
        produced += 1
        yield row
    while produced < rows:
        if previous is not None and previous.kind == "PER" and rng.random() < 0.0004:
            # The public file lists some addresses twice (another structure): dedupe on the address.
            twin = SyntheticRow(**{**previous.__dict__, "org": f"SELARL {previous.family}", "structure_id": ""})
            previous = None
            produced += 1
            yield twin
            continue
        city, cp, dept, _ = next(cities)
        num = str(rng.randint(1, 180))
        street_type = rng.choice(_STREET_TYPES)
        street = rng.choice(_STREET_NAMES)
        if rng.random() < 0.15:
            template, domain, structure_type = rng.choice(_ORG_KINDS)
            org = template.format(city=city, street=street.split(" ")[-1])
            slug = _ascii_slug(city)
            domain = domain.format(slug=slug)
            service = rng.choice(_ORG_SERVICES)
            local = _ascii_slug(re.sub(r"^Service (des |de |d')", "", service))
            local = local[:30] or "contact"
            address = f"{local}@{domain}"
            used[address] += 1
            if used[address] > 1:
                address = f"{local}{used[address]}@{domain}"
            row = SyntheticRow(
                kind="ORG",
                address=address,
                org=org,
                service=service,
                structure_type=structure_type,
                structure_id=str(rng.randint(10**8, 10**9 - 1)),
                num=num,
                type=street_type,
                street=street,
                cp=cp,
                city=city,
                dept=dept,
            )
        else:
            prof, _label, _w, domain, civility = next(professions)
            if rng.random() < 0.55:
                family = rng.choices(_SURNAMES, weights=surname_weights, k=1)[0].replace("_", " ")
            else:
                family = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))) + rng.choice(_ENDINGS)
            given = rng.choice(_GIVEN)
            sf = next(specialties)[0] if prof == "10" else ""
            if civility == "DR" and rng.random() < 0.02:
                civility = "PR"
            local = f"{_ascii_slug(given)}.{_ascii_slug(family)}"
            used[local + domain] += 1
            if used[local + domain] > 1:
                local += str(used[local + domain])
            in_practice = rng.random() < 0.6
            row = SyntheticRow(
                kind="PER",
                address=f"{local}@{domain}",
                rpps="10" + str(rng.randint(10**8, 10**9 - 1)),
                civility=civility,
                family=family,
                given=given,
                prof=prof,
                sf=sf,
                org=f"CABINET {'DU DR' if civility else 'DE'} {family}" if in_practice else "",
                structure_type="3" if in_practice else "",
                structure_id=str(rng.randint(10**13, 10**14 - 1)) if in_practice else "",
                num=num,
                type=street_type,
                street=street,
                cp=cp,
                city=city,
                dept=dept,
                demat="O" if rng.random() < 0.9 else "N",
            )
        previous = row
        produced += 1
        yield row


def generate_extraction(path: Path | str, rows: int = 10_000, seed: int | str = 2026) -> int:
    """Write a synthetic Extraction_Correspondance_MSSante file of `rows` data lines (+ header); returns `rows`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(HEADER + "\n")
        buffer: list[str] = []
        for row in synthetic_rows(rows, seed):
            buffer.append("|".join(row.columns()))
            written += 1
            if len(buffer) >= 5000:
                out.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            out.write("\n".join(buffer) + "\n")
    return written


# -- FHIR resources ----------------------------------------------------------------------------------------------


def _mailbox_telecom(
    address: str, kind: str, *, description: str = "", service: str = "", red_list: bool = False
) -> dict[str, Any]:
    meta: list[dict[str, Any]] = [
        {"url": "type", "valueCodeableConcept": {"coding": [{"system": SYS_TYPE_BAL, "code": kind}]}}
    ]
    if description:
        meta.append({"url": "description", "valueString": description})
    if service:
        meta.append({"url": "service", "valueString": service})
    meta.append({"url": "listeRouge", "valueBoolean": red_list})
    return {
        "extension": [
            {"url": EXT_EMAIL_TYPE, "valueCoding": {"system": SYS_EMAIL_TYPE, "code": "MSSANTE"}},
            {"url": EXT_MAILBOX, "extension": meta},
        ],
        "system": "email",
        "value": address,
    }


def _address(row: SyntheticRow) -> list[dict[str, Any]]:
    if not row.cp:
        return []
    line = " ".join(p for p in (row.num, row.type, row.street) if p)
    return [{"use": "work", "line": [line], "postalCode": row.cp, "city": row.city, "country": "FRANCE"}]


def build_resources(rows: list[SyntheticRow]) -> dict[str, list[dict[str, Any]]]:
    """Practitioner (one per RPPS, its personal mailboxes), PractitionerRole (one per mailbox, linking the
    practitioner to its structure) and Organization (structures; ORG mailboxes) resources."""
    practitioners: dict[str, dict[str, Any]] = {}
    organizations: dict[str, dict[str, Any]] = {}
    roles: list[dict[str, Any]] = []

    def organization(row: SyntheticRow) -> dict[str, Any]:
        key = row.org
        if key not in organizations:
            org_id = f"org-{len(organizations) + 1:06d}"
            organizations[key] = {
                "resourceType": "Organization",
                "id": org_id,
                "meta": {"lastUpdated": "2026-11-01T01:00:00.000+01:00"},
                "identifier": [
                    {"system": SYS_IDNST, "value": (row.structure_type or "3") + (row.structure_id or org_id)}
                ],
                "active": True,
                "name": row.org,
                "telecom": [],
                "address": _address(row),
            }
        return organizations[key]

    for row in rows:
        if row.kind == "PER" and row.rpps:
            prac = practitioners.get(row.rpps)
            if prac is None:
                qualification = [
                    {
                        "code": {
                            "coding": [
                                {
                                    "system": SYS_PROFESSION,
                                    "code": row.prof,
                                    "display": _PROFESSION_LABELS.get(row.prof, ""),
                                }
                            ]
                        }
                    }
                ]
                if row.sf:
                    qualification.append(
                        {
                            "code": {
                                "coding": [
                                    {
                                        "system": SYS_SAVOIR_FAIRE,
                                        "code": row.sf,
                                        "display": _SPECIALTY_LABELS.get(row.sf, ""),
                                    }
                                ]
                            }
                        }
                    )
                prac = {
                    "resourceType": "Practitioner",
                    "id": f"prac-{len(practitioners) + 1:06d}",
                    "meta": {"lastUpdated": "2026-11-01T01:00:00.000+01:00"},
                    "identifier": [
                        {"system": SYS_IDNPS, "value": "8" + row.rpps, "type": {"coding": [{"code": "IDNPS"}]}},
                        {"system": SYS_RPPS, "value": row.rpps, "type": {"coding": [{"code": "RPPS"}]}},
                    ],
                    "active": True,
                    "name": [
                        {
                            "use": "usual",
                            "family": row.family,
                            "given": [row.given],
                            **({"suffix": [row.civility]} if row.civility else {}),
                        }
                    ],
                    "telecom": [],
                    "qualification": qualification,
                }
                practitioners[row.rpps] = prac
            telecom = _mailbox_telecom(row.address, "PER", red_list=row.red_list)
            prac["telecom"].append(telecom)
            role: dict[str, Any] = {
                "resourceType": "PractitionerRole",
                "id": f"role-{len(roles) + 1:06d}",
                "active": True,
                "practitioner": {"reference": f"Practitioner/{prac['id']}"},
                "telecom": [telecom],
            }
            if row.org:
                role["organization"] = {"reference": f"Organization/{organization(row)['id']}"}
            roles.append(role)
        elif row.kind == "ORG" and row.org:
            org = organization(row)
            org["telecom"].append(
                _mailbox_telecom(row.address, row.kind, description=f"{row.org} {row.service}", service=row.service)
            )
    # As in the real data: a structure's plain contact e-mail is no MSS mailbox (no extension).
    for org in list(organizations.values())[:3]:
        org["telecom"].append({"system": "email", "value": f"contact-{org['id']}@exemple.fr"})
    return {
        "Practitioner": list(practitioners.values()),
        "PractitionerRole": roles,
        "Organization": list(organizations.values()),
    }


def sandbox_rows(rows: int = DEFAULT_FHIR_ROWS, seed: int | str = 2026) -> list[SyntheticRow]:
    """The FHIR sandbox's people: the demo rows, synthetic ones, and one mailbox on the liste rouge."""
    data = [r for r in synthetic_rows(rows, seed)]
    data.append(
        SyntheticRow(
            kind="PER",
            address=f"liste.rouge@{DEMO_DOMAIN}",
            rpps="99700999999",
            civility="DR",
            family="DISCRET",
            given="Paul",
            prof="10",
            sf="SM54",
            cp="69003",
            city="LYON",
            dept="69",
            red_list=True,
        )
    )
    return data


# -- search ------------------------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _string_match(values: list[str], wanted: str, modifier: str) -> bool:
    """FHIR string search: starts-with by default (case and accents ignored), `:contains`, `:exact`."""
    if modifier == "exact":
        return any(v == wanted for v in values)
    wanted_f = _fold(wanted)
    if modifier == "contains":
        return any(wanted_f in _fold(v) for v in values)
    return any(_fold(v).startswith(wanted_f) for v in values)


def _names(resource: dict[str, Any]) -> list[str]:
    if resource["resourceType"] == "Organization":
        name = str(resource.get("name", ""))
        return [name, *name.split()]
    values: list[str] = []
    for name in resource.get("name", []):
        family = str(name.get("family", ""))
        given = [str(g) for g in name.get("given", [])]
        values.extend([family, *given, " ".join([*given, family]), " ".join([family, *given])])
    return values


def _mailboxes(resource: dict[str, Any]) -> list[str]:
    return [
        str(t.get("value", ""))
        for t in resource.get("telecom", [])
        if any(e.get("url") == EXT_MAILBOX for e in t.get("extension", []))
    ]


def _identifiers(resource: dict[str, Any]) -> list[str]:
    return [str(i.get("value", "")) for i in resource.get("identifier", [])]


class SearchError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class AnnuaireData:
    resources: dict[str, list[dict[str, Any]]]
    by_ref: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, items in self.resources.items():
            for item in items:
                self.by_ref[f"{kind}/{item['id']}"] = item

    def search(self, resource: str, params: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(matches, included resources) for the search parameters; unknown parameters are a 400, like HAPI."""
        matches = self.resources[resource]
        includes: list[str] = []
        for raw_name, value in params:
            name, _, modifier = raw_name.partition(":")
            if name in ("_count", "_getpagesoffset", "_format"):
                continue
            if name == "_include":
                includes.append(value)
                continue
            if modifier not in ("", "contains", "exact"):
                raise SearchError(400, f"Modificateur inconnu : {raw_name}")
            if name == "name" or (name == "family" and resource == "Practitioner"):
                if resource == "PractitionerRole":
                    raise SearchError(400, f"Paramètre inconnu pour {resource} : {name}")
                matches = [r for r in matches if _string_match(_names(r), value, modifier)]
            elif name == "mailbox-mss":
                matches = [r for r in matches if _string_match(_mailboxes(r), value, modifier)]
            elif name == "identifier":
                wanted = {v.rsplit("|", 1)[-1] for v in value.split(",")}
                matches = [r for r in matches if wanted & set(_identifiers(r))]
            elif name in ("practitioner", "organization") and resource == "PractitionerRole":
                wanted = {v if "/" in v else f"{name.capitalize()}/{v}" for v in value.split(",")}
                matches = [r for r in matches if r.get(name, {}).get("reference") in wanted]
            elif name == "_id":
                matches = [r for r in matches if r["id"] in value.split(",")]
            else:
                raise SearchError(400, f"Paramètre de recherche non pris en charge par le bac à sable : {raw_name}")
        included: list[dict[str, Any]] = []
        if resource == "PractitionerRole":
            for spec in includes:
                target = {
                    "PractitionerRole:practitioner": "practitioner",
                    "PractitionerRole:organization": "organization",
                }
                key = target.get(spec)
                if key is None:
                    raise SearchError(400, f"_include non pris en charge : {spec}")
                seen = {r["id"] for r in included}
                for role in matches:
                    ref = role.get(key, {}).get("reference", "")
                    found = self.by_ref.get(ref)
                    if found and found["id"] not in seen:
                        included.append(found)
                        seen.add(found["id"])
        return matches, included


# -- HTTPS server ------------------------------------------------------------------------------------------------


@dataclass
class AnnuaireRequest:
    at: float
    method: str
    path: str
    query: str
    api_key_ok: bool
    status: int


class AnnuaireServer(MutualTlsServer):
    label = "Bac à sable Annuaire Santé"

    def __init__(self, address: tuple[str, int], ssl_context: ssl.SSLContext, data: AnnuaireData, api_key: str) -> None:
        super().__init__(address, AnnuaireHandler, ssl_context)
        self.data = data
        self.api_key = api_key
        self.log: list[AnnuaireRequest] = []
        self.faults: collections.deque[tuple[str, float]] = collections.deque()
        self.faults_lock = threading.Lock()
        self.base_url = ""

    def record(self, entry: AnnuaireRequest) -> None:
        with self.log_lock:
            self.log.append(entry)

    def next_fault(self) -> tuple[str, float] | None:
        with self.faults_lock:
            return self.faults.popleft() if self.faults else None


def _outcome(message: str, code: str = "processing") -> bytes:
    return json.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": message}],
        },
        ensure_ascii=False,
    ).encode("utf-8")


class AnnuaireHandler(SandboxRequestHandler):
    server: AnnuaireServer
    server_version = "CaduceeSandboxAnnuaire/1.0"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _json(self, status: int, body: bytes) -> None:
        self._send(status, body, "application/fhir+json;charset=utf-8")

    def _forbidden_method(self) -> None:
        self.close_connection = True
        self._json(405, _outcome(f"Méthode {self.command} interdite.", "not-supported"))

    do_PUT = do_DELETE = do_PATCH = _forbidden_method

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        self._handle(split.path, parse_qsl(split.query, keep_blank_values=True))

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > 100_000:
            self.close_connection = True
            self._json(413, _outcome("Requête trop volumineuse."))
            return
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if not split.path.endswith("/_search"):
            self._forbidden_method()
            return
        params = parse_qsl(split.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
        self._handle(split.path[: -len("/_search")], params)

    def _handle(self, path: str, params: list[tuple[str, str]]) -> None:
        key_ok = self.headers.get("ESANTE-API-KEY", "") == self.server.api_key
        entry = AnnuaireRequest(time.time(), self.command, path, urlencode(params), key_ok, 0)
        fault = self.server.next_fault()
        if fault and fault[0] != "slow":
            entry.status = -1
            self.server.record(entry)  # recorded before answering: a client that got the answer sees the entry
            self._inject(fault)
            return
        if fault:
            self._inject(fault)
        status, body = self._answer(path, params, key_ok)
        entry.status = status
        self.server.record(entry)
        self._json(status, body)

    def _answer(self, path: str, params: list[tuple[str, str]], key_ok: bool) -> tuple[int, bytes]:
        if not key_ok:
            return 401, _outcome("Clé d'API (ESANTE-API-KEY) absente ou invalide.", "security")
        resource = path[len(BASE_PATH) + 1 :] if path.startswith(BASE_PATH + "/") else ""
        if resource == "metadata":
            return 200, self._capability()
        if resource not in RESOURCES:
            return 404, _outcome(f"Type de ressource inconnu : {resource or path!r}.", "not-found")
        try:
            return 200, self._bundle(resource, params)
        except SearchError as exc:
            return exc.status, _outcome(str(exc), "invalid")

    def _inject(self, fault: tuple[str, float]) -> None:
        kind, delay = fault
        if kind == "http_503":
            self._json(503, _outcome("Service temporairement indisponible (bac à sable)."))
        elif kind == "garbage":
            self._send(200, b"<html>not json</html>", "text/html")
        elif kind == "slow":
            time.sleep(delay)  # then the normal answer
        elif kind == "drop_connection":
            self.close_connection = True
            self.connection.close()

    def _capability(self) -> bytes:
        return json.dumps(
            {
                "resourceType": "CapabilityStatement",
                "status": "active",
                "fhirVersion": "4.0.1",
                "format": ["json"],
                "rest": [
                    {
                        "mode": "server",
                        "resource": [
                            {
                                "type": r,
                                "searchParam": [
                                    {"name": "mailbox-mss", "type": "string"},
                                    {"name": "identifier", "type": "token"},
                                    *([{"name": "name", "type": "string"}] if r != "PractitionerRole" else []),
                                ],
                            }
                            for r in RESOURCES
                        ],
                    }
                ],
            }
        ).encode("utf-8")

    def _bundle(self, resource: str, params: list[tuple[str, str]]) -> bytes:
        values = dict(params)
        try:
            count = min(int(values.get("_count", PAGE_SIZE)), MAX_COUNT)
            offset = max(int(values.get("_getpagesoffset", 0)), 0)
        except ValueError as exc:
            raise SearchError(400, "_count et _getpagesoffset doivent être des entiers.") from exc
        if count < 1:
            raise SearchError(400, "_count doit être positif.")
        matches, included = self.server.data.search(resource, params)
        page = matches[offset : offset + count]
        if included:
            wanted_refs = set()
            for role in page:
                for key in ("practitioner", "organization"):
                    if ref := role.get(key, {}).get("reference"):
                        wanted_refs.add(ref)
            included = [r for r in included if f"{r['resourceType']}/{r['id']}" in wanted_refs]
        base = f"{self.server.base_url}/{resource}"
        kept = [(k, v) for k, v in params if k != "_getpagesoffset"]
        links = [{"relation": "self", "url": f"{base}?{urlencode(params)}"}]
        if offset + count < len(matches):
            links.append(
                {"relation": "next", "url": f"{base}?{urlencode([*kept, ('_getpagesoffset', str(offset + count))])}"}
            )
        bundle = {
            "resourceType": "Bundle",
            "id": f"search-{int(time.time() * 1000)}",
            "type": "searchset",
            "total": len(matches),
            "link": links,
            "entry": [
                {"fullUrl": f"{self.server.base_url}/{resource}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                for r in page
            ]
            + [
                {
                    "fullUrl": f"{self.server.base_url}/{r['resourceType']}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "include"},
                }
                for r in included
            ],
        }
        return json.dumps(bundle, ensure_ascii=False).encode("utf-8")


@dataclass
class AnnuaireSandbox:
    server: AnnuaireServer
    thread: threading.Thread
    url: str  # FHIR base, https://host:port/fhir/v2
    api_key: str

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def requests(self) -> list[AnnuaireRequest]:
        return self.server.log

    @property
    def resources(self) -> dict[str, list[dict[str, Any]]]:
        return self.server.data.resources

    def fail_next(self, n: int = 1, kind: str = "http_503", *, delay_seconds: float = 5.0) -> None:
        """The next `n` requests fail this way; see FAULT_KINDS."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        with self.server.faults_lock:
            self.server.faults.extend([(kind, delay_seconds)] * n)

    def stop(self) -> None:
        self.server.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def annuaire_ssl_context(*, ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """Server TLS ≥ 1.2; no client certificate asked (the national gateway authenticates by API key), but one
    offered must chain to the sandbox CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    context.load_verify_locations(cafile=str(ca))
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def start_annuaire_sandbox(
    *,
    ca: Path,
    cert: Path,
    key: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str,
    rows: int = DEFAULT_FHIR_ROWS,
    seed: int | str = 2026,
) -> AnnuaireSandbox:
    """Start the FHIR sandbox in a daemon thread (port 0 = any free port); `.url` is the FHIR base URL."""
    if not api_key:
        raise ValueError("api_key is required (the sandbox checks ESANTE-API-KEY like the real gateway)")
    data = AnnuaireData(build_resources(sandbox_rows(rows, seed)))
    server = AnnuaireServer((host, port), annuaire_ssl_context(ca=ca, cert=cert, key=key), data, api_key)
    url_host = f"[{host}]" if ":" in host else host
    server.base_url = f"https://{url_host}:{server.server_address[1]}{BASE_PATH}"
    thread = threading.Thread(target=server.serve_forever, name="annuaire-sandbox", daemon=True)
    thread.start()
    logger.info("Bac à sable Annuaire Santé sur %s", server.base_url)
    return AnnuaireSandbox(server=server, thread=thread, url=server.base_url, api_key=api_key)
