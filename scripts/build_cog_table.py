"""Build the demo table of birthplaces (src/caducee/identity/data/cog_demo.tsv.gz) for `caducee import-cog --demo`.

Source: the npm package @etalab/decoupage-administratif (data: Licence Ouverte 2.0 / Etalab, derived from INSEE's
Code officiel géographique; code: MIT), its data/communes.json — current communes, communes déléguées and associées
(the historic communes of the mergers since 1971 still named in the COG) and the arrondissements of Paris, Lyon and
Marseille. The package has no countries: a short list of common countries of birth (INSEE's COG « pays » codes 99xxx)
is written here; the whole list comes from INSEE's v_pays file through `caducee import-cog FILES…` (docs/cog.md).

Usage: cd /tmp && npm pack @etalab/decoupage-administratif && tar xzf etalab-decoupage-administratif-*.tgz
       python scripts/build_cog_table.py /tmp/package/data/communes.json
"""

import gzip
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/caducee/identity/data/cog_demo.tsv.gz"
KINDS = {
    "commune-actuelle": "COM",
    "arrondissement-municipal": "ARM",
    "commune-deleguee": "COMD",
    "commune-associee": "COMA",
}
# INSEE COG « pays et territoires étrangers » (https://www.insee.fr/fr/information/2028273), current codes only.
COUNTRIES = {
    "99101": "Danemark", "99102": "Islande", "99103": "Norvège", "99104": "Suède", "99105": "Finlande",
    "99106": "Estonie", "99107": "Lettonie", "99108": "Lituanie", "99109": "Allemagne", "99110": "Autriche",
    "99111": "Bulgarie", "99112": "Hongrie", "99113": "Liechtenstein", "99114": "Roumanie", "99116": "Tchéquie",
    "99117": "Slovaquie", "99122": "Pologne", "99123": "Russie", "99125": "Albanie", "99126": "Grèce",
    "99127": "Italie", "99128": "Saint-Marin", "99129": "Vatican", "99130": "Andorre", "99131": "Belgique",
    "99132": "Royaume-Uni", "99134": "Espagne", "99135": "Pays-Bas", "99136": "Irlande", "99137": "Luxembourg",
    "99138": "Monaco", "99139": "Portugal", "99140": "Suisse", "99155": "Ukraine", "99208": "Turquie",
    "99216": "Chine", "99243": "Viêt Nam", "99322": "Cameroun", "99326": "Côte d'Ivoire", "99333": "Madagascar",
    "99335": "Mali", "99341": "Sénégal", "99350": "Maroc", "99351": "Tunisie", "99352": "Algérie",
    "99401": "Canada", "99404": "États-Unis",
}  # fmt: skip


def rows(communes: list[dict]) -> list[tuple[str, ...]]:
    out = set()
    for c in communes:
        kind = KINDS.get(c.get("type", ""))
        if kind:
            out.add((c["code"], kind, c["nom"], c.get("departement", ""), c.get("commune", ""), ""))
    out.update((code, "PAYS", name, "", "", "") for code, name in COUNTRIES.items())
    return sorted(out)


def main(path: str) -> None:
    table = rows(json.loads(Path(path).read_text(encoding="utf-8")))
    # mtime=0: the same input gives the same bytes.
    with OUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(b"code\tkind\tname\tdepartment\tparent_code\tvalid_until\n")
        gz.write("".join("\t".join(r) + "\n" for r in table).encode())
    print(f"{len(table)} lieux → {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
