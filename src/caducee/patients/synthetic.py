"""A synthetic practice: realistic French patients for benchmarks and demonstrations (`caducee bench-data`).

Everything is fictitious and deterministic for a seed. Names follow the INSEE frequency order of
French surnames and the fashion of first names by generation; birth dates follow the French age
pyramid; statuses follow a plausible mix for a practice that has been using INSi for a while.
Identities that carry a matricule INS (RECUP, QUAL) get a structurally valid one (sex, year and month
of birth, department and commune of the birthplace, order number, key) under the *demo NIR* OID
1.2.250.1.213.1.4.11: it belongs to no real person and the product never sends it to a national
service. Every generated identity is flagged `from_sandbox` (test data).

Only 300 surnames are used (the real long tail covers most of the population): homonyms are several
times denser than in a real practice, which makes search benchmarks pessimistic, not optimistic.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import transaction

from caducee.core.oids import OID_INS_NIR_DEMO
from caducee.core.text import normalize_trait
from caducee.identity.matricule import compute_key
from caducee.identity.models import (
    UNKNOWN_BIRTHPLACE,
    CollectionMethod,
    Identity,
    SearchToken,
    Sex,
    Status,
    StatusChange,
)
from caducee.identity.selectors import identity_tokens
from caducee.patients.models import Patient

BATCH_SIZE = 2000
SYNTHETIC_REASON = "Données synthétiques (caducee bench-data)"

# INSEE frequency order (bearers born in France, 1891-2000), then composed and regional names.
# Weights decrease with the rank (a Zipf law fitted on the INSEE counts: MARTIN ≈ 13 × the 300th).
_SURNAMES = """
Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel Lefebvre Leroy Roux
David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau Vincent Muller Lefèvre Faure
André Mercier Blanc Guérin Boyer Garnier Chevalier François Legrand Gauthier Garcia Perrin Robin Clément
Morin Nicolas Henry Roussel Mathieu Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noël Meyer
Dufour Meunier Brun Blanchard Giraud Joly Rivière Lucas Brunet Gaillard Barbier Arnaud Martinez Gérard
Roche Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas Lacroix
Olivier Philippe Bourgeois Pierre Benoît Rey Leclerc Payet Rolland Leclercq Guillaume Lecomte Lopez Jean
Dupuy Guillot Hubert Berger Carpentier Sanchez Dupuis Moulin Louis Deschamps Huet Vasseur Perez Boucher
Fleury Royer Klein Jacquet Adam Paris Poirier Marty Aubry Guyot Carré Charles Renault Charpentier Ménard
Maillard Baron Bertin Bailly Hervé Schneider Fernandez Le_Gall Collet Léger Bouvier Julien Prévost Millet
Perrot Daniel Le_Roux Cousin Germain Breton Besson Langlois Rémy Le_Goff Pelletier Lévêque Perrier
Leblanc Barré Lebrun Marchal Weber Mallet Hamon Boulanger Jacob Monnier Michaud Rodriguez Guichard Gillet
Étienne Grondin Poulain Tessier Chevallier Collin Chauvin Da_Silva Bouchet Gay Lemaître Bénard Maréchal
Humbert Reynaud Antoine Hoarau Perret Barthélémy Cordier Pichon Lejeune Gilbert Lamy Delaunay Pasquier
Carlier Laporte Gonzalez Charrier Briand Ferrand Lainé Vallée Delmas Maurice Tanguy Coulon Lebon Didier
Rousset Bouchard Guillon Raymond Boutin Godard Dias Ferreira Dos_Santos Rodrigues Pereira Alves Martins
Gomes Lopes Nguyen Cohen Diallo Traoré Haddad Hoffmann Wagner Becker Fischer Schmidt Bauer Lefort
Lebreton Le_Bris Le_Floch Le_Corre Le_Bihan Le_Guen Le_Moal Le_Berre Guéguen Descamps Devaux Delattre
Fontaine-Martin Saint-Martin Le_Normand Riou Jourdan Gauthier-Dubois Besnard Chauveau Texier Labbé
Marion Bousquet Ollivier Bigot Bonnin Fabre-Martin Guillet Bernier Hamel Blondel Delahaye Fouquet Navarro
Rolland-Petit Tran Pons Lacombe Lemaire-Durand Perrin-Roux Courtois Camus Buisson Hébert Laurent-Dubois
Vaillant Mary Joubert Leconte Pottier Cornu Boivin Marchand-Simon Carton Vidal-Blanc Jacques Thibault
De_la_Fontaine D'Almeida De_Oliveira Da_Costa De_Sousa D'Hondt De_Smet Van_de_Velde N'Diaye Ben_Ahmed
""".split()
SURNAMES = [s.replace("_", " ") for s in dict.fromkeys(_SURNAMES)]

# First names by generation (ordered by popularity within each), birth names written as people write
# them; normalize_trait gives the stored form (JEROME, HELENE, ANNE-SOPHIE).
_MALE = {
    "old": """Jean Pierre André Michel Jacques René Louis Roger Marcel Georges Henri Paul Robert Maurice
        Raymond Lucien Fernand Roland Claude Bernard Gérard Albert Émile Joseph Francis Gilbert Guy Charles
        Jean-Claude Jean-Pierre Jean-Marie Yves Léon Eugène Armand Gaston Marius François Alain Daniel
        Auguste Édouard""",
    "mid": """Philippe Alain Patrick Michel Christian Daniel Éric Pascal Thierry Frédéric Laurent Stéphane
        Didier Dominique Serge Bruno Olivier Christophe Franck David Sébastien Nicolas Jérôme Cédric Sylvain
        Vincent Thomas Julien Arnaud Fabrice Gilles Joël Hervé Jean-Luc Jean-François Jean-Michel Jean-Marc
        Jean-Philippe Jean-Louis Xavier Emmanuel Lionel Ludovic Grégory Mickaël Yannick Anthony""",
    "young": """Thomas Nicolas Julien Kévin Alexandre Maxime Antoine Quentin Romain Clément Hugo Lucas Théo
        Louis Enzo Mathis Nathan Gabriel Raphaël Arthur Jules Adam Léo Noah Paul Tom Ethan Sacha Maël
        Timéo Liam Evan Valentin Baptiste Corentin Dylan Florian Adrien Pierre-Louis Mohamed Yanis Rayan
        Noé Aaron Mathéo Eliott Jean-Baptiste""",
}
_FEMALE = {
    "old": """Marie Jeanne Marguerite Germaine Suzanne Madeleine Marcelle Louise Yvonne Simone Paulette
        Denise Andrée Renée Lucienne Odette Ginette Colette Jacqueline Monique Nicole Gisèle Huguette
        Raymonde Yvette Odile Geneviève Thérèse Anne-Marie Marie-Thérèse Marie-Louise Hélène Anne Paule
        Léonie Berthe Lucie Alice Françoise Christiane Marie-Claire Solange""",
    "mid": """Martine Catherine Françoise Sylvie Isabelle Nathalie Christine Valérie Sandrine Patricia
        Brigitte Chantal Dominique Véronique Corinne Stéphanie Céline Élodie Aurélie Émilie Karine Virginie
        Delphine Séverine Laurence Florence Caroline Muriel Pascale Anne-Sophie Marie-Claude
        Marie-Christine Marie-Hélène Évelyne Josiane Michèle Danielle Agnès Claire Sophie Julie Magali
        Laetitia Audrey""",
    "young": """Camille Léa Manon Chloé Emma Inès Sarah Laura Pauline Marine Mathilde Clara Jade Louise
        Alice Lina Rose Anna Ambre Mia Julia Lou Zoé Léna Romane Océane Justine Anaïs Margaux Lucie Élise
        Charlotte Nina Agathe Eva Lilou Maëlys Marie-Lou Anne-Laure Clémence Elsa Héloïse Noémie Yasmine""",
}
MALE_NAMES = {era: names.split() for era, names in _MALE.items()}
FEMALE_NAMES = {era: names.split() for era, names in _FEMALE.items()}

# French population by 5-year age group on 1 January 2025 (INSEE, thousands, rounded): 0-4 … 100-105.
_AGE_PYRAMID = [
    3400,
    3800,
    4100,
    4200,
    3900,
    3800,
    4100,
    4300,
    4300,
    4200,
    4500,
    4400,
    4200,
    4000,
    3800,
    3000,
    2000,
    1400,
    700,
    200,
    30,
]
REFERENCE_YEAR = 2025  # birth dates from 1920 to 2025

# Communes (COG codes, INSEE), weighted roughly by births; Paris, Marseille and Lyon by arrondissement.
_COMMUNES = """
75101:1 75104:1 75105:2 75107:2 75110:3 75111:4 75112:6 75113:5 75114:6 75115:8 75116:4 75117:4
75118:4 75119:3 75120:3 13201:1 13205:2 13206:2 13208:3 13209:2 13213:2 69381:1 69383:2 69387:2
69388:2 31555:8 06088:6 44109:6 67482:6 34172:6 33063:6 59350:6 35238:6 51454:3 76351:3 42218:3
83137:3 38185:3 21231:3 49007:3 30189:3 69266:2 63113:3 72181:3 13001:2 29019:3 37261:3 80021:3
87085:3 74010:2 66136:2 92012:2 57463:3 25056:3 45234:3 76540:3 93066:2 68224:3 14118:3 54395:3
59512:2 59599:2 92050:2 94081:1 86194:2 64445:2 17300:2 84007:2 26362:1 73065:1 01053:1 2A004:1
2B033:1 97411:2 97209:1 97101:1 97302:1 56121:1 56260:1 22278:1 29232:1 53130:1 50129:1 62041:1
62193:1 59183:2 10387:1 88160:1 90010:1 39300:1 05061:1 12202:1 81004:1 11069:1 65440:1 40192:1
47001:1 24322:1 16015:1 79191:1 85191:1 18033:1 36044:1 41018:1 28085:1 27229:1 60057:1 95127:1
78646:2 91228:1 77288:1 94028:2 58194:1 89024:1 71270:1 03190:1 02408:1 57672:1 64102:1 13004:1
"""
# Births abroad (99 + INSEE country code): Algeria, Morocco, Tunisia, Portugal, Spain, Italy, Germany,
# Belgium, United Kingdom, Switzerland, Turkey, Senegal, Côte d'Ivoire, Cameroon, Romania, Poland,
# Vietnam, China, United States.
_ABROAD = """
99352:8 99350:8 99351:4 99139:5 99134:3 99127:3 99109:2 99131:2 99132:1 99140:1 99208:2 99341:2
99326:2 99322:2 99114:2 99122:1 99243:1 99216:1 99404:1
"""


def _weighted(spec: str) -> tuple[list[str], list[int]]:
    pairs = [item.split(":") for item in spec.split()]
    return [code for code, _ in pairs], [int(weight) for _, weight in pairs]


COMMUNES, COMMUNE_WEIGHTS = _weighted(_COMMUNES)
ABROAD, ABROAD_WEIGHTS = _weighted(_ABROAD)

# Where the patients live: a practice near Rennes (postal code, commune), weighted.
_RESIDENCES = [
    ("35000", "Rennes", 20),
    ("35200", "Rennes", 12),
    ("35700", "Rennes", 10),
    ("35510", "Cesson-Sévigné", 8),
    ("35135", "Chantepie", 5),
    ("35740", "Pacé", 4),
    ("35650", "Le Rheu", 4),
    ("35770", "Vern-sur-Seiche", 4),
    ("35136", "Saint-Jacques-de-la-Lande", 6),
    ("35830", "Betton", 5),
    ("35760", "Saint-Grégoire", 5),
    ("35590", "L'Hermitage", 2),
    ("35131", "Chartres-de-Bretagne", 3),
    ("35230", "Noyal-Châtillon-sur-Seiche", 3),
]
_STREETS = [
    "rue de la République",
    "rue Victor Hugo",
    "avenue Jean Jaurès",
    "rue Pasteur",
    "place de l'Église",
    "rue du Général de Gaulle",
    "allée des Tilleuls",
    "boulevard Gambetta",
    "rue de Paris",
    "impasse des Lilas",
    "rue Jules Ferry",
    "chemin du Moulin",
    "rue de Brest",
    "rue Saint-Hélier",
    "avenue des Buttes de Coësmes",
    "rue de Fougères",
    "boulevard de la Liberté",
    "rue d'Antrain",
    "square de Provence",
    "rue du Stade",
]
_ID_DOCUMENTS = (["CN", "PA", "CS", "eCN", "IN", "AV"], [55, 15, 6, 14, 2, 8])
_STATUSES = ([Status.QUAL, Status.RECUP, Status.VALI, Status.PROV], [45, 15, 10, 30])
_SINCE = datetime(2012, 1, 1, 8, 0, tzinfo=UTC)  # first patients of the practice
_UNTIL = datetime(2025, 12, 31, 18, 0, tzinfo=UTC)


def _zipf(count: int, exponent: float) -> list[float]:
    return [1 / (rank + 1) ** exponent for rank in range(count)]


SURNAME_WEIGHTS = _zipf(len(SURNAMES), 0.45)


@dataclass
class SyntheticPatient:
    """One generated patient: the Identity fields, the Patient fields and the date of its last status."""

    identity: dict[str, Any]
    patient: dict[str, Any]
    status_at: datetime


class _Generator:
    def __init__(self, seed: int, taken_matricules: set[str]) -> None:
        self.rng = random.Random(seed)
        self.taken = taken_matricules
        self.surname_cum = _cumulative(SURNAME_WEIGHTS)
        self.first_cum = {
            (sex, era): _cumulative(_zipf(len(names), 0.6))
            for sex, lists in (("M", MALE_NAMES), ("F", FEMALE_NAMES))
            for era, names in lists.items()
        }

    def surname(self) -> str:
        return normalize_trait(self.rng.choices(SURNAMES, cum_weights=self.surname_cum)[0])

    def _era(self, year: int) -> str:
        if year < 1945:
            return "old"
        if year < 1960:
            return self.rng.choice(("old", "mid"))
        if year < 1985:
            return "mid"
        if year < 1995:
            return self.rng.choice(("mid", "young"))
        return "young"

    def given_names(self, sex: str, year: int) -> list[str]:
        # Older generations were given more prénoms; hyphenated ones (JEAN-PIERRE) count as one.
        count = self.rng.choices((1, 2, 3), weights=(25, 45, 30) if year < 1970 else (45, 40, 15))[0]
        lists = MALE_NAMES if sex == Sex.M else FEMALE_NAMES
        names: list[str] = []
        while len(names) < count:
            era = self._era(year)
            name = normalize_trait(self.rng.choices(lists[era], cum_weights=self.first_cum[(sex, era)])[0])
            if name not in names:
                names.append(name)
        return names

    def birth_date(self) -> date:
        group = self.rng.choices(range(len(_AGE_PYRAMID)), weights=_AGE_PYRAMID)[0]
        age = min(group * 5 + self.rng.randrange(5), REFERENCE_YEAR - 1920)
        year = REFERENCE_YEAR - age
        return date(year, 1, 1) + timedelta(days=self.rng.randrange(366 if year % 4 == 0 else 365))

    def birthplace(self, status: str) -> str:
        draw = self.rng.random()
        # RNIV: 99999 when unknown; identities returned by INSi always carry a birthplace here.
        if status in (Status.PROV, Status.VALI) and draw < (0.08 if status == Status.PROV else 0.02):
            return UNKNOWN_BIRTHPLACE
        if draw > 0.92:
            return self.rng.choices(ABROAD, weights=ABROAD_WEIGHTS)[0]
        return self.rng.choices(COMMUNES, weights=COMMUNE_WEIGHTS)[0]

    def matricule(self, sex: str, born: date, cog: str) -> str:
        """A NIR-shaped matricule: sex, YY, MM, department + commune (or 99 + country), order, key."""
        department, commune = cog[:2], cog[2:]
        if department in ("2A", "2B") and born.year < 1976:
            department = "20"  # Corsica was department 20 until 1976
        head = f"{1 if sex == Sex.M else 2}{born.year % 100:02d}{born.month:02d}{department}{commune}"
        order = self.rng.randrange(1, 1000)
        while True:
            number = f"{head}{order:03d}"
            value = number + compute_key(number)
            if value not in self.taken:
                self.taken.add(value)
                return value
            order = order % 999 + 1

    def moment(self, after: datetime) -> datetime:
        """A moment during opening hours (07:00-19:00 UTC) between `after` and the end of 2025."""
        day = after.date() + timedelta(days=self.rng.randrange(max((_UNTIL - after).days, 1)))
        when = datetime(day.year, day.month, day.day, 7, tzinfo=UTC) + timedelta(seconds=self.rng.randrange(43200))
        return max(when, after)

    def patient(self) -> SyntheticPatient:
        rng = self.rng
        status = rng.choices(*_STATUSES)[0]
        sex = Sex.F if rng.random() < 0.52 else Sex.M
        born = self.birth_date()
        age = REFERENCE_YEAR - born.year
        given = self.given_names(sex, born.year)
        birth_name = self.surname()
        used_name = ""
        if sex == Sex.F and age >= 22 and rng.random() < (0.55 if age >= 30 else 0.25):
            spouse = self.surname()
            used_name = f"{birth_name}-{spouse}" if rng.random() < 0.1 else spouse
        elif sex == Sex.M and age >= 22 and rng.random() < 0.01:
            used_name = self.surname()
        used_given = given[1] if len(given) > 1 and rng.random() < 0.05 else ""
        cog = self.birthplace(status)
        birth_date = born.isoformat()
        if status == Status.PROV and rng.random() < 0.003:
            birth_date = f"{born.year:04d}-00-00"  # RNIV: unknown day and month (local identity only)

        created = self.moment(max(_SINCE, datetime(born.year, born.month, born.day, 9, tzinfo=UTC)))
        identity: dict[str, Any] = {
            "birth_name": birth_name,
            "birth_given_names": " ".join(given),
            "first_given_name": given[0],
            "birth_date": birth_date,
            "sex": sex,
            "birthplace_cog": cog,
            "used_name": used_name,
            "used_given_name": used_given,
            "status": status,
            "collection_method": CollectionMethod.CV if rng.random() < 0.6 else CollectionMethod.SM,
            "from_sandbox": True,
            "created_at": created,
        }
        status_at = created
        if status in (Status.RECUP, Status.QUAL):
            matricule = self.matricule(sex, born, cog)
            status_at = self.moment(created)
            identity.update(
                ins_matricule=matricule,
                ins_oid=OID_INS_NIR_DEMO,
                insi_checked_at=status_at,
                collection_method=CollectionMethod.INSI,
            )
        if status in (Status.VALI, Status.QUAL):
            checked = self.moment(created) if status == Status.VALI else status_at
            status_at = checked
            identity.update(id_document=rng.choices(*_ID_DOCUMENTS)[0], id_document_checked_at=checked)
        identity["updated_at"] = status_at

        postal_code, city = self._residence()
        patient: dict[str, Any] = {
            "address_line": f"{rng.randrange(1, 120)} {rng.choice(_STREETS)}",
            "postal_code": postal_code,
            "city": city,
            "created_at": created,
        }
        if rng.random() < 0.85:
            digits = "".join(str(rng.randrange(10)) for _ in range(8))
            patient["phone"] = f"0{rng.choice('67')} " + " ".join(digits[i : i + 2] for i in range(0, 8, 2))
        if age >= 18 and rng.random() < 0.4:
            patient["email"] = f"{given[0]}.{birth_name}@example.fr".lower().replace(" ", "").replace("'", "")
        if identity.get("ins_matricule") and age >= 16 and rng.random() < 0.7:
            patient.update(vitale_nir_od=identity["ins_matricule"], vitale_rang="1", vitale_read_at=created)
        return SyntheticPatient(identity=identity, patient=patient, status_at=status_at)

    def _residence(self) -> tuple[str, str]:
        postal_code, city, _ = self.rng.choices(_RESIDENCES, weights=[w for *_, w in _RESIDENCES])[0]
        return postal_code, city


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def synthetic_patients(
    count: int, *, seed: int = 1, taken_matricules: set[str] | None = None
) -> Iterator[SyntheticPatient]:
    """The generated patients, without touching the database (deterministic for a seed)."""
    generator = _Generator(seed, taken_matricules if taken_matricules is not None else set())
    for _ in range(count):
        yield generator.patient()


def generate_practice(*, patients: int, seed: int = 1, progress: Callable[[int], None] | None = None) -> int:
    """Create `patients` synthetic patients (Identity, Patient, SearchToken, StatusChange); return the count.

    Rows are written with bulk_create, BATCH_SIZE identities per transaction. Matricules already in the
    database are avoided, so a second run with another seed adds patients without duplicate INS.
    """
    taken = set(Identity.objects.exclude(ins_matricule="").values_list("ins_matricule", flat=True))
    records = synthetic_patients(patients, seed=seed, taken_matricules=taken)
    done = 0
    while done < patients:
        batch = [next(records) for _ in range(min(BATCH_SIZE, patients - done))]
        _write_batch(batch)
        done += len(batch)
        if progress is not None:
            progress(done)
    return done


def _write_batch(batch: list[SyntheticPatient]) -> None:
    with transaction.atomic():
        identities = Identity.objects.bulk_create([Identity(**record.identity) for record in batch])
        Patient.objects.bulk_create(
            [Patient(identity=identity, **record.patient) for identity, record in zip(identities, batch, strict=True)]
        )
        SearchToken.objects.bulk_create(
            [
                SearchToken(
                    identity_id=identity.pk,
                    token=token,
                    birth_name=identity.birth_name,
                    first_given_name=identity.first_given_name,
                    birth_date=identity.birth_date,
                )
                for identity in identities
                for token in sorted(identity_tokens(identity))
            ],
            batch_size=5000,
        )
        StatusChange.objects.bulk_create(
            [
                StatusChange(
                    identity_id=identity.pk,
                    at=record.status_at,
                    previous="",
                    new=identity.status,
                    reason=SYNTHETIC_REASON,
                )
                for identity, record in zip(identities, batch, strict=True)
            ]
        )
