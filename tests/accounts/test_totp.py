"""TOTP second factor (issue 6): RFC 6238 vectors, enrolment, the login's code step, lockout, replay, removal
(SC.SSI/IE.35), administrators forced to enrol, traces (SC.SSI/IAM.90)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from django.test import Client

from caducee.accounts import totp
from caducee.accounts.models import User
from caducee.core.crypto import unseal
from caducee.core.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

T0 = 1_900_000_000.0  # a fixed clock for the tests (a step boundary: 1_900_000_000 / 30 is whole)

# RFC 6238 Appendix B: the seeds (ASCII) and the 8-digit codes for SHA-1, SHA-256, SHA-512.
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [
    (59, {"sha1": "94287082", "sha256": "46119246", "sha512": "90693936"}),
    (1111111109, {"sha1": "07081804", "sha256": "68084774", "sha512": "25091201"}),
    (1111111111, {"sha1": "14050471", "sha256": "67062674", "sha512": "99943326"}),
    (1234567890, {"sha1": "89005924", "sha256": "91819424", "sha512": "93441116"}),
    (2000000000, {"sha1": "69279037", "sha256": "90698825", "sha512": "38618901"}),
    (20000000000, {"sha1": "65353130", "sha256": "77737706", "sha512": "47863826"}),
]


@pytest.mark.parametrize(("unix_time", "codes"), VECTORS)
def test_rfc6238_appendix_b_vectors(unix_time: int, codes: dict[str, str]) -> None:
    for digest, expected in codes.items():
        assert totp.totp(SEEDS[digest], unix_time, digits=8, digest=digest) == expected


def test_rfc4226_appendix_d_hotp_values() -> None:
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [totp.hotp(SEEDS["sha1"], counter) for counter in range(10)] == expected


def test_one_step_of_drift_either_way_and_no_more() -> None:
    secret = totp.new_secret()
    key = totp.secret_bytes(secret)
    step = totp.time_step(T0)
    for delta, accepted in ((-60, False), (-30, True), (0, True), (30, True), (60, False)):
        code = totp.totp(key, T0 + delta)
        assert (totp.matching_step(secret, code, unix_time=T0) is not None) is accepted, delta
    assert totp.matching_step(secret, totp.totp(key, T0 + 30), unix_time=T0) == step + 1
    assert totp.matching_step(secret, "12345", unix_time=T0) is None
    assert totp.matching_step(secret, "abcdef", unix_time=T0) is None


def test_secret_and_provisioning_uri() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and len(totp.secret_bytes(secret)) == 20
    seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of the RFC 6238 SHA-1 seed
    uri = totp.provisioning_uri(seed, account="dr.martin", issuer="Caducée")
    parts = urlsplit(uri)
    # Key Uri Format: otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30
    assert (parts.scheme, parts.netloc, unquote(parts.path)) == ("otpauth", "totp", "/Caducée:dr.martin")
    assert dict(parse_qsl(parts.query)) == {
        "secret": seed,
        "issuer": "Caducée",
        "algorithm": "SHA1",
        "digits": "6",
        "period": "30",
    }
    assert totp.qr_data_uri(uri).startswith("data:image/svg+xml")


def test_only_six_ascii_digits_are_codes() -> None:
    secret = totp.new_secret()
    code = totp.totp(totp.secret_bytes(secret), T0)
    assert totp.matching_step(secret, f" {code[:3]} {code[3:]} ", unix_time=T0) == totp.time_step(T0)
    arabic_indic = code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert totp.matching_step(secret, arabic_indic, unix_time=T0) is None


# --- enrolment and login ---------------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    now = {"t": T0}
    monkeypatch.setattr(totp, "clock", lambda: now["t"])
    return now


def _code(user: User, at: float) -> str:
    user.refresh_from_db()
    return totp.totp(totp.secret_bytes(unseal(user.totp_secret)), at)


def _enrol(client: Client, user: User, at: float) -> None:
    page = client.get("/compte/securite/totp/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml' in html and "<script>" not in html and " style=" not in html
    secret = unseal(User.objects.get(pk=user.pk).totp_secret)
    assert totp.grouped(secret) in html  # the manual key, for typing by hand
    response = client.post("/compte/securite/totp/", {"code": _code(user, at)})
    assert response.status_code == 302 and response.url == "/compte/securite/"


def test_enrolment_needs_a_valid_code_and_seals_the_secret(
    client: Client, doctor: User, clock: dict[str, float]
) -> None:
    client.force_login(doctor)
    assert client.get("/compte/securite/totp/").status_code == 200
    doctor.refresh_from_db()
    secret = unseal(doctor.totp_secret)
    assert secret and secret not in doctor.totp_secret  # sealed at rest
    # A reload shows the same pending secret (the phone may have scanned it already).
    client.get("/compte/securite/totp/")
    doctor.refresh_from_db()
    assert unseal(doctor.totp_secret) == secret
    refused = client.post("/compte/securite/totp/", {"code": "000000"})
    assert refused.status_code == 400 and "Code incorrect" in refused.content.decode()
    doctor.refresh_from_db()
    assert doctor.totp_enabled_at is None
    _enrol(client, doctor, T0)
    doctor.refresh_from_db()
    assert doctor.totp_enabled_at is not None and doctor.totp_last_step == totp.time_step(T0)
    outcomes = list(AuditEvent.objects.filter(action="auth.totp_enable").order_by("id").values_list("outcome"))
    assert outcomes == [("refused",), ("ok",)]


def _login_password(client: Client, username: str, next_url: str = "") -> Any:
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/connexion/", data)


def test_login_with_totp_asks_the_code_before_opening_the_session(
    client: Client, doctor: User, clock: dict[str, float]
) -> None:
    client.force_login(doctor)
    _enrol(client, doctor, T0)
    client.post("/deconnexion/")
    clock["t"] = T0 + 120
    response = _login_password(client, "medecin", next_url="/patients/nouveau/")
    assert response.status_code == 302 and response.url == "/connexion/code/"
    # No session before the code: every page still leads to the login.
    assert client.get("/").url.startswith("/connexion/")
    assert client.get("/connexion/code/").status_code == 200
    wrong = client.post("/connexion/code/", {"code": "000000"})
    assert wrong.status_code == 401 and "Code incorrect" in wrong.content.decode()
    ok = client.post("/connexion/code/", {"code": _code(doctor, T0 + 120)})
    assert ok.status_code == 302 and ok.url == "/patients/nouveau/"
    assert client.get("/").status_code == 200
    events = list(
        AuditEvent.objects.filter(action__in=["auth.password", "auth.totp", "auth.login"], at__isnull=False)
        .order_by("id")
        .values_list("action", "outcome", "detail")
    )
    assert events[-3:] == [
        ("auth.password", "ok", {"username": "medecin", "second_factor": "totp"}),
        ("auth.totp", "refused", {"username": "medecin", "reason": "bad_code"}),
        ("auth.login", "ok", {"username": "medecin", "second_factor": "totp"}),
    ]


def test_a_code_is_accepted_once(client: Client, doctor: User, clock: dict[str, float]) -> None:
    client.force_login(doctor)
    _enrol(client, doctor, T0)
    client.post("/deconnexion/")
    clock["t"] = T0 + 60
    code = _code(doctor, T0 + 60)
    _login_password(client, "medecin")
    assert client.post("/connexion/code/", {"code": code}).status_code == 302
    client.post("/deconnexion/")
    _login_password(client, "medecin")
    replay = client.post("/connexion/code/", {"code": code})
    assert replay.status_code == 401
    assert AuditEvent.objects.filter(action="auth.totp", detail__reason="replayed_code").count() == 1
    # The code of the enrolment's own step is refused too: that step is spent.
    assert client.post("/connexion/code/", {"code": _code(doctor, T0)}).status_code == 401


def test_failed_codes_count_toward_the_lockout(
    client: Client, doctor: User, clock: dict[str, float], settings: Any
) -> None:
    """IAM.92 / IE.36: blocking after LOGIN_MAX_FAILURES; a good password again does not reset the count."""
    settings.LOGIN_MAX_FAILURES = 3
    client.force_login(doctor)
    _enrol(client, doctor, T0)
    client.post("/deconnexion/")
    _login_password(client, "medecin")
    client.post("/connexion/code/", {"code": "000000"})
    client.post("/connexion/code/", {"code": "000001"})
    _login_password(client, "medecin")  # the password again: the failures stay counted
    locked = client.post("/connexion/code/", {"code": "000002"})
    assert locked.status_code == 302 and locked.url == "/connexion/"
    doctor.refresh_from_db()
    assert doctor.locked_until is not None
    assert AuditEvent.objects.filter(action="auth.lockout", outcome="refused").count() == 1
    # Locked: even the right password and code are refused now.
    assert _login_password(client, "medecin").status_code == 401


def test_the_pending_login_expires_after_five_minutes(
    client: Client, doctor: User, clock: dict[str, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    client.force_login(doctor)
    _enrol(client, doctor, T0)
    client.post("/deconnexion/")
    import caducee.accounts.security_views as views

    _login_password(client, "medecin")
    started = client.session[views.PENDING_LOGIN]["at"]
    monkeypatch.setattr(views.time, "time", lambda: started + 301)
    clock["t"] = T0 + 30
    response = client.post("/connexion/code/", {"code": _code(doctor, T0 + 30)})
    assert response.status_code == 302 and response.url == "/connexion/"
    assert client.get("/").url.startswith("/connexion/")


def test_without_pending_login_the_code_page_leads_to_the_login(client: Client, db: None) -> None:
    response = client.get("/connexion/code/")
    assert response.status_code == 302 and response.url == "/connexion/"


def test_an_administrator_without_totp_may_only_enrol(
    client: Client, administrator: User, clock: dict[str, float]
) -> None:
    response = _login_password(client, "administrateur")
    assert response.status_code == 302 and response.url == "/compte/securite/totp/"
    for url in ("/audit/", "/structure/", "/", "/patients/nouveau/"):
        redirected = client.get(url)
        assert redirected.status_code == 302 and redirected.url == "/compte/securite/totp/", url
    assert "obligatoire" in client.get("/compte/securite/totp/").content.decode()
    _enrol(client, administrator, T0)
    assert client.get("/audit/").status_code == 200


def test_a_user_switches_totp_off_with_the_password(client: Client, doctor: User, clock: dict[str, float]) -> None:
    """SC.SSI/IE.35: lost or stolen phone, by the user."""
    client.force_login(doctor)
    _enrol(client, doctor, T0)
    client.post("/compte/securite/totp/desactiver/", {"password": "faux"})
    doctor.refresh_from_db()
    assert doctor.totp_enabled_at is not None
    client.post("/compte/securite/totp/desactiver/", {"password": PASSWORD})
    doctor.refresh_from_db()
    assert doctor.totp_enabled_at is None and doctor.totp_secret == ""
    client.post("/deconnexion/")
    assert _login_password(client, "medecin").url == "/"  # password only again


def test_an_administrator_switches_off_the_totp_of_a_user(
    client: Client, doctor: User, administrator: User, secretary: User, clock: dict[str, float]
) -> None:
    """SC.SSI/IE.35: by an administrator the user called; nobody else may."""
    client.force_login(doctor)
    _enrol(client, doctor, T0)
    client.force_login(secretary)
    assert client.post(f"/compte/securite/utilisateurs/{doctor.pk}/totp/desactiver/").status_code == 403
    doctor.refresh_from_db()
    assert doctor.totp_enabled_at is not None
    client.force_login(administrator)
    page = client.get("/compte/securite/").content.decode()
    assert "MEDECIN" in page
    client.post(f"/compte/securite/utilisateurs/{doctor.pk}/totp/desactiver/")
    doctor.refresh_from_db()
    assert doctor.totp_enabled_at is None
    event = AuditEvent.objects.filter(action="auth.totp_disable").get()
    assert event.actor_id == administrator.pk and event.object_id == str(doctor.pk)


def test_the_operator_switches_off_an_administrators_totp_from_the_server(
    client: Client, administrator: User, clock: dict[str, float]
) -> None:
    """SC.SSI/IE.35 when no other administrator can: `caducee totp-disable`, traced."""
    from io import StringIO

    from django.core.management import call_command

    client.force_login(administrator)
    _enrol(client, administrator, T0)
    out = StringIO()
    call_command("totp_disable", "administrateur", stdout=out)
    assert "désactivée pour administrateur" in out.getvalue()
    administrator.refresh_from_db()
    assert administrator.totp_enabled_at is None and administrator.totp_secret == ""
    event = AuditEvent.objects.filter(action="auth.totp_disable").get()
    assert event.actor is None and event.detail == {"username": "administrateur"}


def test_the_secret_is_renewed_at_the_configured_age(
    client: Client, doctor: User, clock: dict[str, float], settings: Any
) -> None:
    """SC.SSI/IE.34: after TOTP_RENEWAL_DAYS the login ends on a new enrolment, before any other page."""
    from datetime import timedelta

    from django.utils import timezone

    settings.TOTP_RENEWAL_DAYS = 180
    client.force_login(doctor)
    _enrol(client, doctor, T0)
    client.post("/deconnexion/")
    User.objects.filter(pk=doctor.pk).update(totp_enabled_at=timezone.now() - timedelta(days=181))
    old_secret = unseal(User.objects.get(pk=doctor.pk).totp_secret)
    clock["t"] = T0 + 30
    _login_password(client, "medecin")
    response = client.post("/connexion/code/", {"code": _code(doctor, T0 + 30)})
    assert response.status_code == 302 and response.url == "/compte/securite/totp/"
    assert client.get("/").url == "/compte/securite/totp/"
    clock["t"] = T0 + 60
    client.get("/compte/securite/totp/")
    doctor.refresh_from_db()
    assert unseal(doctor.totp_secret) != old_secret  # a new secret
    client.post("/compte/securite/totp/", {"code": _code(doctor, T0 + 60)})
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.totp_disable", detail__reason="renewal").count() == 1
