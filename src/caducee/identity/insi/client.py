"""INSi teleservice client: search the INS by traits or with the carte Vitale, over mutual TLS.

Search strategy by traits (notes §3.3, as CNDA-tested): one call per prénom, then one with the
full list when there are several; stop at the first 00 or error, go on after 01/02, return the
last answer with the number of calls. Traits INSi refuses are refused before any call (CNDA test
2.03 cas 3). An answer 00 is accepted only if it respects R11 (no 00 day/month in the birth
date), R12 (nom, prénoms and sexe present) and carries a valid matricule key.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from caducee.core.oids import INS_OIDS
from caducee.core.text import is_insi_compatible, ligature_free, normalize_trait
from caducee.identity.insi.endpoint import InsiEndpoint
from caducee.identity.insi.messages import (
    MAX_MESSAGE_BYTES,
    BuiltRequest,
    Fault,
    LpsContext,
    MalformedMessage,
    Resultat,
    build_traits_request,
    build_vitale_request,
    instance_id,
    parse_response,
)
from caducee.identity.matricule import MatriculeError, parse_matricule

CONNECT_TIMEOUT_SECONDS = 3
_DATE_RE = re.compile(r"^\d{4}-(0\d|1[0-2])-([0-2]\d|3[01])$")  # 00 allowed: lunar dates exist
_COG_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")  # INSEE COG: 5 digits, 2A/2B for Corsica
_RANG_RE = re.compile(r"^[1-9]$")
_UNKNOWN_COG = "99999"  # RNIV: lieu de naissance inconnu → not sent


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class InsiTraits:
    birth_name: str
    given_names: list[str]
    sex: str  # M | F
    birth_date: str  # YYYY-MM-DD
    birthplace_cog: str | None = None


@dataclass
class VitaleQuery:
    nir_individu: str | None  # 15 characters, when the card holds the beneficiary's own NIR
    nir_od: str  # 15 characters: the ouvrant droit's NIR
    birth_name: str
    birth_date: str
    rang: str = "1"  # rang de naissance (twins)


@dataclass
class InsiIdentity:
    matricule: str  # 13 characters
    key: str  # 2 digits
    oid: str
    history: list[dict[str, Any]]
    birth_name: str
    given_names: str  # ListePrenom, space-separated
    first_given_name: str  # Prenom if present, else the first word of ListePrenom (notes §3.3)
    sex: str
    birth_date: str
    birthplace_cog: str


@dataclass
class InsiResult:
    code: str  # 00 | 01 | 02
    label: str
    identity: InsiIdentity | None
    response_xml: str
    attempts: int
    endpoint: str
    requests_xml: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Errors (messages in French, for the user)


class InsiError(Exception):
    def __init__(self, message: str, *, response_xml: str = "", attempts: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.response_xml = response_xml
        self.attempts = attempts


class InsiFault(InsiError):
    """The service answered with a SOAP Fault (siram_40, siram_100/desir_550, DESIR_560…)."""

    def __init__(self, fault: Fault, *, response_xml: str = "", attempts: int = 0) -> None:
        text = fault.reason or fault.detail or "Erreur du téléservice INSi."
        if fault.detail and fault.detail != fault.reason:
            text = f"{text} ({fault.detail_code or fault.subcode} : {fault.detail})"
        super().__init__(text, response_xml=response_xml, attempts=attempts)
        self.code = fault.code
        self.subcode = fault.subcode
        self.detail_code = fault.detail_code
        self.detail = fault.detail
        self.reason = fault.reason


class InsiUnavailable(InsiError):
    """No answer: connection refused, TLS handshake refused, timeout, HTTP 5xx without a fault."""


class InsiInvalidResponse(InsiError):
    """An answer we cannot trust: not XML, DTD/entities, wrong namespace, not the INSi schema."""


class InsiRefusedTraits(InsiError):
    """Traits INSi cannot be asked about (CNDA test 2.03 cas 3: Æ, Œ, digits…): nothing was sent."""


class InsiRejectedResult(InsiError):
    """An answer 00 whose identity must not be retrieved (R11, R12, invalid key or OID)."""


# ---------------------------------------------------------------------------------------------
# Client


class InsiClient:
    def __init__(
        self,
        endpoint: InsiEndpoint,
        *,
        timeout: float | None = None,
        context: LpsContext | None = None,
        bearer: str = "",
    ) -> None:
        self.endpoint = endpoint
        # SC.INS/PSC.01: the Pro Santé Connect access token of the user, when they logged in through PSC, sent as
        # `Authorization: Bearer` beside the structure's TLS certificate (volet transport PSC; [inference] on the
        # exact carrier, the CI-SIS paragraph the requirement points to is not public).
        self.bearer = bearer
        self.read_timeout = float(timeout if timeout is not None else settings.INSI_TIMEOUT_SECONDS)
        self.context = context or LpsContext(
            idam=settings.INSI_IDAM,
            software_name=settings.SOFTWARE_NAME,
            software_version=settings.SOFTWARE_VERSION,
            instance=instance_id(settings.DATA_DIR),
            emetteur=settings.INSI_EMETTEUR,
        )
        self._session = requests.Session()

    def close(self) -> None:
        """Close the pooled connections (kept between the attempts of a search)."""
        self._session.close()

    # -- public API ---------------------------------------------------------------------------

    def search_traits(self, traits: InsiTraits) -> InsiResult:
        """Search by traits with the CNDA strategy; raise InsiError on refusal, fault or failure."""
        birth_name, given_names, sex, birth_date, cog = check_traits(traits)
        attempts_list = [[name] for name in given_names]
        if len(given_names) > 1:
            attempts_list.append([" ".join(given_names)])
        result: InsiResult | None = None
        sent: list[str] = []
        for attempt, prenoms in enumerate(attempts_list, start=1):
            request = build_traits_request(
                birth_name=birth_name,
                given_names=prenoms,
                sex=sex,
                birth_date=birth_date,
                birthplace_cog=cog,
                context=self.context,
            )
            sent.append(request.xml.decode("utf-8"))
            result = self._call(request, attempt)
            result.requests_xml = list(sent)
            if result.code == "00":
                break
        assert result is not None
        return result

    def search_vitale(self, query: VitaleQuery) -> InsiResult:
        """Search with the data read on the carte Vitale (one call)."""
        nir_od = _check_nir(query.nir_od, "NIR de l'ouvrant droit")
        nir_individu = _check_nir(query.nir_individu, "NIR individuel") if query.nir_individu else None
        birth_name = _check_name(query.birth_name, "Nom de naissance")
        birth_date = _check_date(query.birth_date)
        rang = (query.rang or "1").strip()
        if not _RANG_RE.match(rang):
            raise InsiRefusedTraits(f"Rang de naissance invalide : {rang!r} (1 à 9).")
        request = build_vitale_request(
            nir_individu=nir_individu,
            nir_od=nir_od,
            birth_name=birth_name,
            birth_date=birth_date,
            rang=rang,
            context=self.context,
        )
        result = self._call(request, 1)
        result.requests_xml = [request.xml.decode("utf-8")]
        return result

    # -- one call -----------------------------------------------------------------------------

    def _call(self, request: BuiltRequest, attempt: int) -> InsiResult:
        status, body = self._post(request, attempt)
        text = body.decode("utf-8", errors="replace")
        try:
            answer = parse_response(body)
        except MalformedMessage as exc:
            if status >= 500:
                raise InsiUnavailable(
                    f"Téléservice INSi indisponible (HTTP {status}).", response_xml=text, attempts=attempt
                ) from exc
            raise InsiInvalidResponse(
                f"Réponse INSi illisible (HTTP {status}) : {exc}", response_xml=text, attempts=attempt
            ) from exc
        if isinstance(answer, Fault):
            raise InsiFault(answer, response_xml=text, attempts=attempt)
        if status != 200:
            raise InsiInvalidResponse(
                f"Réponse INSi inattendue : HTTP {status} avec un résultat.",
                response_xml=text,
                attempts=attempt,
            )
        identity = _accept_identity(answer, text, attempt) if answer.code == "00" else None
        return InsiResult(
            code=answer.code,
            label=answer.label,
            identity=identity,
            response_xml=text,
            attempts=attempt,
            endpoint=self.endpoint.url,
        )

    def _post(self, request: BuiltRequest, attempt: int) -> tuple[int, bytes]:
        headers = {
            "Content-Type": f'application/soap+xml; charset=utf-8; action="{request.action}"',
            "Accept": "application/soap+xml",
        }
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        endpoint = self.endpoint
        cert: tuple[str, str] | None = None
        if endpoint.client_cert and endpoint.client_key:
            cert = (str(endpoint.client_cert), str(endpoint.client_key))
        verify: str | bool = str(endpoint.ca_bundle) if endpoint.ca_bundle else True
        deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS + self.read_timeout
        try:
            with self._session.post(
                endpoint.url,
                data=request.xml,
                headers=headers,
                cert=cert,
                verify=verify,
                timeout=(CONNECT_TIMEOUT_SECONDS, self.read_timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                body = self._read_bounded(response, deadline, attempt)
                return response.status_code, body
        except requests.exceptions.SSLError as exc:
            raise InsiUnavailable(
                "Connexion TLS au téléservice INSi refusée : vérifiez le certificat logiciel "
                "(INSI-MANU/INSI-AUTO) et l'autorité de certification du serveur.",
                attempts=attempt,
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise InsiUnavailable(self._timeout_message(), attempts=attempt) from exc
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                raise InsiUnavailable(self._timeout_message(), attempts=attempt) from exc
            if "ssl" in str(exc).lower() or "certificate" in str(exc).lower():
                raise InsiUnavailable(
                    "Connexion TLS au téléservice INSi interrompue : certificat client refusé ?",
                    attempts=attempt,
                ) from exc
            raise InsiUnavailable(f"Téléservice INSi injoignable ({endpoint.url}).", attempts=attempt) from exc
        except requests.exceptions.RequestException as exc:
            raise InsiUnavailable(f"Échec de l'appel au téléservice INSi : {exc}", attempts=attempt) from exc

    def _read_bounded(self, response: requests.Response, deadline: float, attempt: int) -> bytes:
        """Read at most MAX_MESSAGE_BYTES, within the overall deadline (slow drip ≠ answer)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_MESSAGE_BYTES:
            raise InsiInvalidResponse(
                f"Réponse INSi trop volumineuse ({declared} octets, maximum {MAX_MESSAGE_BYTES}).",
                attempts=attempt,
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_MESSAGE_BYTES:
                raise InsiInvalidResponse(
                    f"Réponse INSi trop volumineuse (plus de {MAX_MESSAGE_BYTES} octets).", attempts=attempt
                )
            if time.monotonic() > deadline:
                raise InsiUnavailable(self._timeout_message(), attempts=attempt)
            chunks.append(chunk)
        return b"".join(chunks)

    def _timeout_message(self) -> str:
        return f"Le téléservice INSi n'a pas répondu dans le délai ({self.read_timeout:g} s)."


# ---------------------------------------------------------------------------------------------
# Checks before the call


def check_traits(traits: InsiTraits) -> tuple[str, list[str], str, str, str | None]:
    """Normalise the traits the INSi way, or raise InsiRefusedTraits (nothing is sent)."""
    birth_name = _check_name(traits.birth_name, "Nom de naissance")
    given_names: list[str] = []
    for raw in traits.given_names:
        if not ligature_free(raw):
            raise InsiRefusedTraits(_ligature_message("Prénom", raw))
        for word in normalize_trait(raw).split(" "):
            if not word:
                continue
            name = _check_name(word, "Prénom")
            if name not in given_names:
                given_names.append(name)
    if not given_names:
        raise InsiRefusedTraits("Au moins un prénom de naissance est nécessaire pour interroger INSi.")
    sex = (traits.sex or "").strip().upper()
    if sex not in ("M", "F"):
        raise InsiRefusedTraits("INSi ne peut être interrogé qu'avec le sexe M ou F.")
    birth_date = _check_date(traits.birth_date)
    cog = (traits.birthplace_cog or "").strip().upper() or None
    if cog == _UNKNOWN_COG:
        cog = None
    if cog is not None and not _COG_RE.match(cog):
        raise InsiRefusedTraits(f"Code lieu de naissance (COG) invalide : {cog!r}.")
    return birth_name, given_names, sex, birth_date, cog


def _ligature_message(label: str, raw: str) -> str:
    return (
        f"{label} « {raw} » : les ligatures Æ/Œ ne sont pas acceptées par INSi ; "
        "saisissez les lettres séparées (AE, OE) après vérification sur le justificatif."
    )


def _check_name(raw: str, label: str) -> str:
    if not ligature_free(raw or ""):
        raise InsiRefusedTraits(_ligature_message(label, raw))
    value = normalize_trait(raw or "")
    if not value:
        raise InsiRefusedTraits(f"{label} manquant.")
    if not is_insi_compatible(value):
        raise InsiRefusedTraits(
            f"{label} « {raw} » refusé par INSi : seules les lettres A à Z, l'espace, l'apostrophe "
            "et le trait d'union sont admis."
        )
    return value


def _check_date(raw: str) -> str:
    value = (raw or "").strip()
    if not _DATE_RE.match(value):
        raise InsiRefusedTraits(f"Date de naissance invalide : {raw!r} (AAAA-MM-JJ attendu).")
    return value


def _check_nir(raw: str | None, label: str) -> str:
    try:
        return parse_matricule(raw or "").value
    except MatriculeError as exc:
        raise InsiRefusedTraits(f"{label} : {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Checks of an answer 00


def _accept_identity(answer: Resultat, response_xml: str, attempt: int) -> InsiIdentity:
    def reject(message: str) -> InsiRejectedResult:
        return InsiRejectedResult(message, response_xml=response_xml, attempts=attempt)

    active, tiq = answer.active, answer.traits
    assert active is not None and tiq is not None  # parse_response guarantees both for 00
    # R12: an INS whose nom de naissance, prénom(s) or sexe is empty is not retrieved.
    given_names = tiq.given_names or tiq.given_name
    empty = [
        label
        for label, value in (
            ("nom de naissance", tiq.birth_name),
            ("prénom(s) de naissance", given_names),
            ("sexe", tiq.sex),
        )
        if not value
    ]
    if empty:
        raise reject("Identité INSi non récupérable (règle R12) : champ vide (" + ", ".join(empty) + ").")
    # R11: no "00" as day and/or month of birth.
    if not tiq.birth_date:
        raise reject("Identité INSi non récupérable : date de naissance absente.")
    _, month, day = tiq.birth_date.split("-")
    if month == "00" or day == "00":
        raise reject(f"Identité INSi non récupérable (règle R11) : date de naissance incomplète ({tiq.birth_date}).")
    if active.oid not in INS_OIDS:
        raise reject(f"Identité INSi non récupérable : OID inconnu ({active.oid}).")
    if active.key is None:
        raise reject("Identité INSi non récupérable : clé du matricule absente.")
    try:
        parse_matricule(active.matricule + active.key)
    except MatriculeError as exc:
        raise reject(f"Identité INSi non récupérable : matricule INS invalide ({exc})") from exc
    first = tiq.given_name or given_names.split(" ")[0]
    return InsiIdentity(
        matricule=active.matricule,
        key=active.key,
        oid=active.oid,
        history=[
            {"matricule": h.matricule, "key": h.key, "oid": h.oid, "start": h.start, "end": h.end}
            for h in answer.history
        ],
        birth_name=tiq.birth_name,
        given_names=given_names,
        first_given_name=first,
        sex=tiq.sex,
        birth_date=tiq.birth_date,
        birthplace_cog=tiq.birthplace,
    )
