"""Settings from the environment through strict helpers: a bad value stops the start with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from caducee.config import env


def test_bool_and_int_are_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "yes")
    assert env.env_bool("X_BOOL") is True
    monkeypatch.setenv("X_BOOL", "peut-être")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env.env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "trente")
    with pytest.raises(ImproperlyConfigured, match="entier"):
        env.env_int("X_INT", 30)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="minimum"):
        env.env_int("X_INT", 30, minimum=1)


def test_database_url(tmp_path: Path) -> None:
    sqlite = env.database_config("", tmp_path)
    assert sqlite["NAME"] == str(tmp_path / "caducee.sqlite3")
    assert "journal_mode=WAL" in sqlite["OPTIONS"]["init_command"]  # type: ignore[index]
    assert env.database_config("sqlite:////srv/c.sqlite3", tmp_path)["NAME"] == "/srv/c.sqlite3"
    assert env.database_config("sqlite:///srv/c.sqlite3", tmp_path)["NAME"] == "/srv/c.sqlite3"
    pg = env.database_config("postgres://caducee:p%40ss@db.local:5433/cabinet", tmp_path)
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "cabinet",
        "caducee",
        "p@ss",
        "db.local",
        "5433",
    )
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        env.database_config("mysql://x/y", tmp_path)


def test_secret_key_is_generated_once_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    first = env.secret_key(tmp_path)
    assert len(first) >= 50 and env.secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert env.secret_key(tmp_path) == "from-env"
