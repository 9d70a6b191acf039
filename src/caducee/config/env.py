"""Strict helpers reading settings from the environment (healthchecks style).

A malformed value stops the start with a clear message instead of being silently ignored.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: attendu 1/0, true/false, yes/no")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r}: entier attendu") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value}: minimum {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def data_dir() -> Path:
    """The directory holding the SQLite file, the secret key and the sandbox state."""
    path = env_path("CADUCEE_DATA_DIR") or Path.cwd() / "var"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def secret_key(directory: Path) -> str:
    """SECRET_KEY from the environment, from SECRET_KEY_FILE, or generated once in the data dir."""
    if value := os.environ.get("SECRET_KEY"):
        return value
    key_file = env_path("SECRET_KEY_FILE") or directory / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    value = secrets.token_urlsafe(50)
    key_file.touch(mode=0o600)
    key_file.write_text(value)
    return value


def database_config(url: str, directory: Path) -> dict[str, object]:
    """Translate DATABASE_URL (sqlite:///path or postgres://user@host:port/name) into Django's dict."""
    if not url:
        return _sqlite(directory / "caducee.sqlite3")
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if parsed.netloc:  # sqlite://relative/path
            path = parsed.netloc + path
        elif path.startswith("//"):  # sqlite:////abs/path (dj-database-url style) = sqlite:///abs/path
            path = "/" + path.lstrip("/")
        return _sqlite(Path(path) if path not in ("", "/") else directory / "caducee.sqlite3")
    if parsed.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "caducee",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            # Values travel as bound parameters, not inlined into the SQL text by the client: a 30 MB PDF is not
            # copied into a 60 MB escaped literal (the inbox's memory bound, issue 5 §9, bench/bench_mss.py).
            "OPTIONS": {"server_side_binding": True},
            "TEST": {"NAME": (unquote(parsed.path.lstrip("/")) or "caducee") + "_test"},
        }
    raise ImproperlyConfigured(f"DATABASE_URL: schéma {parsed.scheme!r} non pris en charge (sqlite, postgres)")


def _sqlite(path: Path) -> dict[str, object]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # WAL lets readers go on while a writer commits; IMMEDIATE avoids lock upgrades deadlocking.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        },
    }
