"""Client of the Annuaire Santé FHIR API v2 (issue 5 §5; reference annuaire_doc/ and ig_annuaire/).

- Base URL and the `ESANTE-API-KEY` header from the settings (CADUCEE_ANNUAIRE_URL, CADUCEE_ANNUAIRE_API_KEY or
  CADUCEE_ANNUAIRE_API_KEY_FILE, CADUCEE_ANNUAIRE_CA): the real gateway's, or the sandbox's that `caducee sandbox`
  publishes (core/endpoints.py) — one code path.
- GET searches on Practitioner, PractitionerRole and Organization (`name`, `mailbox-mss` with `:contains` or
  `:exact`, `identifier`), following the Bundle's `link[relation=next]` (50 results a page) up to `max_pages`; a next
  link to another host is refused (the API key is never sent elsewhere). At most 17 calls a second per
  application: the client spaces its calls.
- MSS mailboxes are the `telecom` entries carrying the `as-ext-mailbox-mss-metadata` extension (type PER/ORG/APP/
  CAB, description, service, listeRouge); plain e-mails of a structure are not mailboxes (uc-bal-mss.md) and a
  mailbox on the liste rouge is never shown nor stored.
- Every failure (network, TLS, timeout, HTTP 4xx/5xx, an answer that is not a FHIR Bundle) is `AnnuaireUnavailable`
  with a French message; the offline directory (`caducee.mss.annuaire.search`) keeps working meanwhile.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from caducee.core.endpoints import SANDBOX_HINT
from caducee.mss.annuaire.records import DirectoryRecord
from caducee.mss.annuaire.search import forget_directory_cache
from caducee.mss.models import DirectoryEntry, MailboxKind

EXT_MAILBOX = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata"
SYS_IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
RESOURCES = ("Practitioner", "PractitionerRole", "Organization")
CONNECT_TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 20 * 1024 * 1024
MIN_CALL_INTERVAL_SECONDS = 1 / 17  # 17 calls/s per application (getting-started)
DEFAULT_MAX_PAGES = 10
MAX_IDS_PER_CALL = 100
Params = dict[str, str | list[str]]
_KINDS = set(MailboxKind.values)


class AnnuaireUnavailable(Exception):
    """The Annuaire Santé could not answer (French message for the user)."""


@dataclass(frozen=True)
class AnnuaireEndpoint:
    url: str  # FHIR base, e.g. https://gateway.api.esante.gouv.fr/fhir/v2
    api_key: str
    ca_bundle: Path | None
    timeout: float


def annuaire_endpoint() -> AnnuaireEndpoint:
    """The Annuaire Santé of the settings (CADUCEE_ANNUAIRE_*)."""
    timeout = float(settings.ANNUAIRE_TIMEOUT_SECONDS)
    url = str(settings.ANNUAIRE_URL or "").rstrip("/")
    if not url.startswith("https://"):
        raise ImproperlyConfigured(
            "CADUCEE_ANNUAIRE_URL doit être une adresse https:// (API FHIR de l'Annuaire Santé)."
        )
    api_key = str(settings.ANNUAIRE_API_KEY or "")
    key_file = settings.ANNUAIRE_API_KEY_FILE
    if not api_key and key_file:
        try:
            api_key = Path(key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"CADUCEE_ANNUAIRE_API_KEY_FILE : fichier illisible ({key_file}).") from exc
    if not api_key:
        raise ImproperlyConfigured(
            "Annuaire Santé non configuré : renseignez CADUCEE_ANNUAIRE_API_KEY ou CADUCEE_ANNUAIRE_API_KEY_FILE "
            "(clé d'application obtenue sur portal.api.esante.gouv.fr, API « Annuaire Santé en libre accès »). "
            + SANDBOX_HINT
        )
    ca = settings.ANNUAIRE_CA_BUNDLE
    return AnnuaireEndpoint(url=url, api_key=api_key, ca_bundle=Path(ca) if ca else None, timeout=timeout)


# -- parsing -----------------------------------------------------------------------------------------------------


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def mailbox_metadata(telecom: dict[str, Any]) -> dict[str, Any] | None:
    """The as-ext-mailbox-mss-metadata sub-extensions of a ContactPoint ({type, description, responsible, service,
    listeRouge}), or None when the ContactPoint is no MSS mailbox."""
    for extension in telecom.get("extension") or []:
        if not isinstance(extension, dict) or extension.get("url") != EXT_MAILBOX:
            continue
        meta: dict[str, Any] = {}
        for sub in extension.get("extension") or []:
            if not isinstance(sub, dict):
                continue
            url = sub.get("url")
            if url == "type":
                codings = (sub.get("valueCodeableConcept") or {}).get("coding") or []
                meta["type"] = next((_text(c.get("code")) for c in codings if isinstance(c, dict)), "")
            elif url == "listeRouge":
                meta["listeRouge"] = sub.get("valueBoolean") is True
            elif url in ("description", "responsible", "service"):
                meta[url] = _text(sub.get("valueString"))
        return meta
    return None


def _mailboxes(resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(address, metadata) of the resource's MSS mailboxes, liste rouge left out."""
    for telecom in resource.get("telecom") or []:
        if not isinstance(telecom, dict) or telecom.get("system") != "email":
            continue
        meta = mailbox_metadata(telecom)
        address = _text(telecom.get("value"))
        if meta is None or not address or "@" not in address or meta.get("listeRouge"):
            continue
        yield address, meta


def _national_id(resource: dict[str, Any]) -> str:
    identifiers = [i for i in resource.get("identifier") or [] if isinstance(i, dict)]
    for identifier in identifiers:
        if identifier.get("system") == SYS_IDNPS:
            return _text(identifier.get("value"))
    for identifier in identifiers:  # RPPS alone: the IdNat PS is 8 + RPPS
        if "rpps" in str(identifier.get("system", "")).lower():
            return "8" + _text(identifier.get("value"))
    return ""


def _person(practitioner: dict[str, Any] | None) -> dict[str, str]:
    """Name, civility, profession and savoir-faire of a Practitioner (empty values when absent)."""
    values = dict.fromkeys(
        ("national_id", "civility", "family_name", "given_name", "profession_code", "profession"), ""
    )
    values.update(specialty_code="", specialty="")
    if not practitioner:
        return values
    values["national_id"] = _national_id(practitioner)
    names = [n for n in practitioner.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "usual"), names[0] if names else {})
    values["family_name"] = _text(name.get("family"))
    values["given_name"] = " ".join(_text(g) for g in name.get("given") or [])
    # Civilité d'exercice (DR, PR) is the name's suffix in v2; the prefix is the civilité (M, MME).
    values["civility"] = _text((name.get("suffix") or name.get("prefix") or [""])[0])
    for qualification in practitioner.get("qualification") or []:
        for coding in ((qualification or {}).get("code") or {}).get("coding") or []:
            system = str(coding.get("system", ""))
            if "TRE_G15" in system or "TRE-G15" in system:
                values["profession_code"] = _text(coding.get("code"))
                values["profession"] = _text(coding.get("display"))
            elif "TRE_R38" in system or "TRE-R38" in system:
                values["specialty_code"] = _text(coding.get("code"))
                values["specialty"] = _text(coding.get("display"))
    return values


def _place(organization: dict[str, Any] | None) -> dict[str, str]:
    values = {"organisation": "", "address_line": "", "postal_code": "", "city": ""}
    if not organization:
        return values
    values["organisation"] = _text(organization.get("name"))
    addresses = [a for a in organization.get("address") or [] if isinstance(a, dict)]
    if addresses:
        address = addresses[0]
        values["address_line"] = ", ".join(_text(line) for line in address.get("line") or [])
        values["postal_code"] = _text(address.get("postalCode"))
        values["city"] = _text(address.get("city"))
    return values


def records_from_resource(
    resource: dict[str, Any], included: dict[str, dict[str, Any]] | None = None
) -> list[DirectoryRecord]:
    """The DirectoryRecords of one Practitioner, PractitionerRole or Organization (its MSS mailboxes).

    `included` maps "Practitioner/<id>" / "Organization/<id>" to resources of the same Bundle (`_include`), used to
    name a PractitionerRole's mailbox and place it."""
    included = included or {}
    kind = resource.get("resourceType")
    person: dict[str, str]
    place: dict[str, str]
    if kind == "Practitioner":
        person, place = _person(resource), _place(None)
    elif kind == "PractitionerRole":
        practitioner = included.get(str((resource.get("practitioner") or {}).get("reference", "")))
        organization = included.get(str((resource.get("organization") or {}).get("reference", "")))
        person, place = _person(practitioner), _place(organization)
    elif kind == "Organization":
        person, place = _person(None), _place(resource)
    else:
        return []
    records = []
    for address, meta in _mailboxes(resource):
        mailbox_type = str(meta.get("type", "")).upper()
        records.append(
            DirectoryRecord(
                address=address,
                kind=mailbox_type if mailbox_type in _KINDS else "",
                service=meta.get("service") or meta.get("description") or "",
                **person,
                **place,
            )
        )
    return records


def records_from_bundle(bundle: dict[str, Any]) -> list[DirectoryRecord]:
    """The mailboxes of a searchset Bundle's matches (included resources only complete them)."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    included = {
        f"{e['resource'].get('resourceType')}/{e['resource'].get('id')}": e["resource"]
        for e in entries
        if (e.get("search") or {}).get("mode") == "include"
    }
    records: list[DirectoryRecord] = []
    for entry in entries:
        if (entry.get("search") or {}).get("mode", "match") == "match":
            records.extend(records_from_resource(entry["resource"], included))
    return records


# -- client ------------------------------------------------------------------------------------------------------


class AnnuaireClient:
    """Searches of the Annuaire Santé FHIR API v2; one `requests.Session` (keep-alive) per client."""

    def __init__(self, endpoint: AnnuaireEndpoint | None = None, *, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.endpoint = endpoint or annuaire_endpoint()
        self.max_pages = max_pages
        self._session = requests.Session()
        self._session.headers.update(
            {"ESANTE-API-KEY": self.endpoint.api_key, "Accept": "application/fhir+json, application/json"}
        )
        # Passed on every request too: REQUESTS_CA_BUNDLE overrides a Session's `verify` (psf/requests#3829).
        self._verify: str | bool = str(self.endpoint.ca_bundle) if self.endpoint.ca_bundle else True
        self._origin = urlsplit(self.endpoint.url)[:2]
        self._lock = threading.Lock()
        self._last_call = 0.0

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> AnnuaireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _throttle(self) -> None:
        with self._lock:
            wait = self._last_call + MIN_CALL_INTERVAL_SECONDS - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_call = time.monotonic()

    def _get(self, url: str, params: Params | None = None) -> dict[str, Any]:
        if urlsplit(url)[:2] != self._origin:
            raise AnnuaireUnavailable("Réponse de l'Annuaire Santé refusée : lien de page vers un autre serveur.")
        self._throttle()
        try:
            with self._session.get(
                url,
                params=params,
                timeout=(CONNECT_TIMEOUT_SECONDS, self.endpoint.timeout),
                verify=self._verify,
                stream=True,
            ) as response:
                body = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
                status = response.status_code
        except requests.exceptions.SSLError as exc:
            raise AnnuaireUnavailable(
                "Annuaire Santé : connexion sécurisée impossible (certificat du serveur non reconnu)."
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise AnnuaireUnavailable("Annuaire Santé : pas de réponse dans le délai imparti.") from exc
        except (requests.exceptions.RequestException, OSError) as exc:
            raise AnnuaireUnavailable("Annuaire Santé injoignable (réseau ou service indisponible).") from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise AnnuaireUnavailable("Annuaire Santé : réponse trop volumineuse, ignorée.")
        if status in (401, 403):
            raise AnnuaireUnavailable(
                "Annuaire Santé : clé d'API refusée (ESANTE-API-KEY) ; vérifiez CADUCEE_ANNUAIRE_API_KEY."
            )
        if status == 429:
            raise AnnuaireUnavailable("Annuaire Santé : trop de requêtes, réessayez dans un instant.")
        if status >= 400:
            detail = _diagnostics(body)
            raise AnnuaireUnavailable(f"Annuaire Santé : erreur {status}{' (' + detail + ')' if detail else ''}.")
        try:
            bundle = json.loads(body)
        except ValueError as exc:
            raise AnnuaireUnavailable("Annuaire Santé : réponse illisible (JSON attendu).") from exc
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise AnnuaireUnavailable("Annuaire Santé : réponse inattendue (Bundle FHIR attendu).")
        return bundle

    def bundles(self, resource: str, params: Params) -> Iterator[dict[str, Any]]:
        """The search's Bundles, page after page (`link[relation=next]`), at most `max_pages`."""
        if resource not in RESOURCES:
            raise ValueError(f"unsupported resource {resource!r}")
        bundle = self._get(f"{self.endpoint.url}/{resource}", params)
        for page in range(self.max_pages):
            yield bundle
            next_url = next(
                (
                    str(link.get("url"))
                    for link in bundle.get("link") or []
                    if isinstance(link, dict) and link.get("relation") == "next" and link.get("url")
                ),
                None,
            )
            if next_url is None or page + 1 >= self.max_pages:
                return
            bundle = self._get(next_url)

    def _search(self, resource: str, params: Params) -> tuple[dict[str, DirectoryRecord], list[str]]:
        """(records by address, ids of the matched resources) over every page."""
        if resource == "PractitionerRole":
            params = {**params, "_include": ["PractitionerRole:practitioner", "PractitionerRole:organization"]}
        found: dict[str, DirectoryRecord] = {}
        ids: list[str] = []
        for bundle in self.bundles(resource, params):
            for record in records_from_bundle(bundle):
                found.setdefault(record.address.lower(), record)
            ids += [
                str(e["resource"].get("id"))
                for e in bundle.get("entry") or []
                if isinstance(e, dict)
                and isinstance(e.get("resource"), dict)
                and (e.get("search") or {}).get("mode", "match") == "match"
            ]
        return found, ids

    def search(self, resource: str, params: Params) -> list[DirectoryRecord]:
        """The MSS mailboxes found by a search (every page), deduplicated on the address. PractitionerRole
        searches include the Practitioner (name, profession) and the Organization (structure, address)."""
        return list(self._search(resource, params)[0].values())

    def by_mailbox(self, address: str) -> list[DirectoryRecord]:
        """Who owns this MSS address (`mailbox-mss:exact`): Practitioner, then Organization."""
        found: dict[str, DirectoryRecord] = {}
        for resource in ("Practitioner", "Organization"):
            for record in self.search(resource, {"mailbox-mss:exact": address}):
                found.setdefault(record.address.lower(), record)
        return list(found.values())

    def practitioners(self, *, name: str = "", mailbox: str = "", exact: bool = False) -> list[DirectoryRecord]:
        """Practitioners' mailboxes; their situations d'exercice (PractitionerRole, one more call) place them
        (structure, address, city) when the Practitioner alone does not."""
        found, ids = self._search("Practitioner", _params(name=name, mailbox=mailbox, exact=exact))
        if ids:
            placed, _ = self._search(
                "PractitionerRole", {"practitioner": ",".join(f"Practitioner/{i}" for i in ids[:MAX_IDS_PER_CALL])}
            )
            for address, record in placed.items():
                if address in found:
                    found[address] = record
        return list(found.values())

    def practitioner_roles(self, *, mailbox: str, exact: bool = False) -> list[DirectoryRecord]:
        """PractitionerRole has no `name` parameter: search by mailbox; names come from the included
        Practitioner."""
        return self.search("PractitionerRole", _params(mailbox=mailbox, exact=exact))

    def organizations(self, *, name: str = "", mailbox: str = "", exact: bool = False) -> list[DirectoryRecord]:
        return self.search("Organization", _params(name=name, mailbox=mailbox, exact=exact))


def _params(*, name: str = "", mailbox: str = "", exact: bool = False) -> Params:
    params: Params = {}
    if name.strip():
        params["name"] = name.strip()
    if mailbox.strip():
        params["mailbox-mss:exact" if exact else "mailbox-mss:contains"] = mailbox.strip()
    if not params:
        params["mailbox-mss:contains"] = "@"  # every resource with at least one MSS mailbox (uc-bal-mss.md)
    return params


def _diagnostics(body: bytes) -> str:
    try:
        outcome = json.loads(body)
        return _text(outcome["issue"][0].get("diagnostics"))[:200]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""


def fhir_search(
    name: str = "", *, mailbox: str = "", exact: bool = False, client: AnnuaireClient | None = None
) -> list[DirectoryRecord]:
    """Practitioners' and structures' MSS mailboxes by name and/or address (two searches, merged)."""
    own = client is None
    client = client or AnnuaireClient()
    try:
        found: dict[str, DirectoryRecord] = {}
        for records in (
            client.practitioners(name=name, mailbox=mailbox, exact=exact),
            client.organizations(name=name, mailbox=mailbox, exact=exact),
        ):
            for record in records:
                found.setdefault(record.address.lower(), record)
        return list(found.values())
    finally:
        if own:
            client.close()


def store_records(records: list[DirectoryRecord]) -> list[DirectoryEntry]:
    """Save FHIR answers in the offline directory (`source="fhir"`), one row per address; returns the rows."""
    entries: list[DirectoryEntry] = []
    now = timezone.now()
    with transaction.atomic():
        for record in records:
            values = record.model_values()
            address = values.pop("address")
            entry, _ = DirectoryEntry.objects.update_or_create(
                address=address, defaults={**values, "source": "fhir", "imported_at": now}
            )
            entries.append(entry)
    forget_directory_cache()
    return entries
