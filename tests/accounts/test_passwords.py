"""PGSSI-S password rules (SC.SSI/IE.36, IAM.92), the password change traced (IAM.91), an administrator's password
expiry (IAM.92), dormant administrator accounts disabled (IAM.93)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from caducee.accounts.models import User
from caducee.accounts.passwords import password_expired
from caducee.core.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _errors(password: str, user: User | None = None) -> list[str]:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        return [e.code for e in exc.error_list]  # type: ignore[misc]
    return []


def test_everyone_needs_12_characters_from_3_classes(secretary: User) -> None:
    """SC.SSI/IE.36 (password as the only factor): length and complexity."""
    assert "password_too_short" in _errors("Court-1a", secretary)
    assert "password_too_simple" in _errors("toutenminusculeslong", secretary)
    assert "password_too_simple" in _errors("minusculesetchiffres123", secretary)
    assert _errors("Minuscules-et-tirets", secretary) == []  # lower, upper, special
    assert _errors("Bleu-Horizon-Matin7", secretary) == []


def test_administrators_need_16_characters_from_all_4_classes(administrator: User, secretary: User) -> None:
    """SC.SSI/IAM.92: 15 characters at least (we ask 16) with lowercase, uppercase, digits and special characters."""
    assert "admin_password_too_weak" in _errors("Bleu-Horizon-7", administrator)  # 14 characters
    assert "admin_password_too_weak" in _errors("Bleu-Horizon-Matin-Soir", administrator)  # no digit
    assert "admin_password_too_weak" not in _errors("Bleu-Horizon-Matin-Soir", secretary)
    assert _errors("Bleu-Horizon-Matin-7", administrator) == []


def test_the_current_password_is_refused_as_the_new_one(secretary: User) -> None:
    """SC.SSI/IAM.92 « pas de réutilisation »: at least not the password in use."""
    assert "password_reused" in _errors(PASSWORD, secretary)


def test_an_administrator_cannot_reuse_a_previous_password(administrator: User, settings: Any) -> None:
    """SC.SSI/IAM.92 « pas de réutilisation de mot de passe »: none of the last ADMIN_PASSWORD_HISTORY ones."""
    from caducee.accounts.models import PasswordHistory
    from caducee.accounts.passwords import PasswordChangeError, password_change

    settings.ADMIN_PASSWORD_HISTORY = 2
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only: the rule is the same
    administrator.set_password("Premier-Secret-Admin-2026!")
    administrator.save()
    chain = ["Premier-Secret-Admin-2026!", "Deuxieme-Secret-Admin-2026!", "Troisieme-Secret-Admin-26!"]
    for old, new in itertools.pairwise(chain):
        password_change(actor=administrator, old_password=old, new_password=new, confirmation=new)
    assert PasswordHistory.objects.filter(user=administrator).count() == 2
    for reused in chain[:2]:  # both previous ones refused
        with pytest.raises(PasswordChangeError, match="déjà été utilisé"):
            password_change(actor=administrator, old_password=chain[2], new_password=reused, confirmation=reused)
    fourth = "Quatrieme-Secret-Admin-2026!"
    password_change(actor=administrator, old_password=chain[2], new_password=fourth, confirmation=fourth)
    # The history keeps the last two: the first password is allowed again, the third is not.
    assert PasswordHistory.objects.filter(user=administrator).count() == 2
    with pytest.raises(PasswordChangeError, match="déjà été utilisé"):
        password_change(actor=administrator, old_password=fourth, new_password=chain[2], confirmation=chain[2])
    password_change(actor=administrator, old_password=fourth, new_password=chain[0], confirmation=chain[0])


def _change(client: Client, old: str, new: str, confirmation: str | None = None) -> Any:
    return client.post(
        "/compte/securite/",
        {"old_password": old, "new_password": new, "confirmation": new if confirmation is None else confirmation},
        follow=True,
    )


def test_password_change_is_traced_success_and_failure(client: Client, secretary: User) -> None:
    """SC.SSI/IAM.91: date and time, the identifier, the result of every attempt; never the passwords."""
    client.force_login(secretary)
    page = client.get("/compte/securite/").content.decode()
    assert "Au moins 3 types de caractères" in page
    assert "Mot de passe actuel incorrect" in _change(client, "faux", "Nouveau-Secret-2027").content.decode()
    assert "diffèrent" in _change(client, PASSWORD, "Nouveau-Secret-2027", "Autre-chose-2027").content.decode()
    assert "au moins 3 types" in _change(client, PASSWORD, "nouveausecretlong").content.decode()
    response = _change(client, PASSWORD, "Nouveau-Secret-2027")
    assert "Mot de passe changé." in response.content.decode()
    assert client.get("/").status_code == 200  # the session survives the change
    secretary.refresh_from_db()
    assert secretary.check_password("Nouveau-Secret-2027")
    assert secretary.password_changed_at is not None
    events = list(
        AuditEvent.objects.filter(action="auth.password_change").order_by("id").values_list("outcome", "detail")
    )
    assert events == [
        ("refused", {"username": "secretaire", "reason": "bad_current_password"}),
        ("refused", {"username": "secretaire", "reason": "confirmation_mismatch"}),
        ("refused", {"username": "secretaire", "reason": "policy"}),
        ("ok", {"username": "secretaire"}),
    ]
    assert not AuditEvent.objects.filter(detail__icontains="Nouveau-Secret").exists()


def test_wrong_current_passwords_count_toward_the_lockout(client: Client, secretary: User, settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES = 2
    client.force_login(secretary)
    _change(client, "faux-1", "Nouveau-Secret-2027")
    _change(client, "faux-2", "Nouveau-Secret-2027")
    secretary.refresh_from_db()
    assert secretary.locked_until is not None
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 1


def test_an_expired_administrator_password_must_be_changed_first(
    client: Client, administrator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SC.SSI/IAM.92: one year at most; after the login every page leads to the change form until done."""
    from caducee.accounts import totp
    from caducee.core.crypto import seal

    secret = totp.new_secret()
    User.objects.filter(pk=administrator.pk).update(
        password_changed_at=timezone.now() - timedelta(days=366),
        totp_secret=seal(secret),
        totp_enabled_at=timezone.now(),
    )
    administrator.refresh_from_db()
    assert password_expired(administrator)
    assert not password_expired(User(role="medecin", date_joined=timezone.now() - timedelta(days=999)))
    monkeypatch.setattr(totp, "clock", lambda: 1_900_000_000.0)
    client.post("/connexion/", {"username": "administrateur", "password": PASSWORD, "next": "/structure/"})
    code = totp.totp(totp.secret_bytes(secret), 1_900_000_000.0)
    response = client.post("/connexion/code/", {"code": code})
    assert response.url == "/compte/securite/"
    assert client.get("/audit/").url == "/compte/securite/"
    assert "a expiré" in client.get("/compte/securite/").content.decode()
    _change(client, PASSWORD, "Nouveau-Secret-Admin-2027")
    assert client.get("/audit/").status_code == 200


def test_dormant_administrators_are_disabled(administrator: User, secretary: User, settings: Any) -> None:
    """SC.SSI/IAM.93: an administrator account unused for ADMIN_DORMANT_DAYS is disabled, traced; others are not."""
    settings.ADMIN_DORMANT_DAYS = 365
    old = timezone.now() - timedelta(days=400)
    User.objects.filter(pk__in=[administrator.pk, secretary.pk]).update(last_login=old, date_joined=old)
    recent = User.objects.create_user(username="admin2", password=PASSWORD, role="admin", last_login=timezone.now())
    out = StringIO()
    call_command("accounts_disable_dormant", stdout=out)
    assert "1 compte(s) désactivé(s) après 365 jours sans connexion : administrateur" in out.getvalue()
    assert list(User.objects.filter(is_active=False).values_list("username", flat=True)) == ["administrateur"]
    recent.refresh_from_db()
    assert recent.is_active
    event = AuditEvent.objects.get(action="auth.account_disable")
    assert event.detail == {"username": "administrateur", "reason": "dormant"} and event.actor is None


def test_a_dormant_administrator_is_disabled_at_the_login(client: Client, administrator: User) -> None:
    old = timezone.now() - timedelta(days=400)
    User.objects.filter(pk=administrator.pk).update(last_login=old)
    response = client.post("/connexion/", {"username": "administrateur", "password": PASSWORD})
    assert response.status_code == 401
    administrator.refresh_from_db()
    assert not administrator.is_active
    assert AuditEvent.objects.filter(action="auth.account_disable").count() == 1
