"""One endpoint path (issue 12 §6): the endpoint variables, the sandbox's settings file, read once at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from caducee.core.endpoints import (
    ENDPOINT_VARIABLES,
    check_endpoint_settings,
    endpoint_settings,
    endpoint_settings_applied,
    read_settings_file,
)

# Prints, as JSON, every endpoint setting of a freshly started Caducée (config/settings.py read by Django).
DUMP = """
import json, django
django.setup()
from django.conf import settings
from caducee.core.endpoints import ENDPOINT_VARIABLES
print(json.dumps({v.setting: getattr(settings, v.setting) for v in ENDPOINT_VARIABLES.values()}, default=str))
"""


def _started(data_dir: Path, **env: str) -> dict[str, object]:
    """The endpoint settings of a Caducée process started with this environment (and no other CADUCEE_* of ours)."""
    base = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARIABLES and k != "CADUCEE_SANDBOX"}
    base.update(CADUCEE_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="caducee.config.settings", **env)
    done = subprocess.run([sys.executable, "-c", DUMP], env=base, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _samples(tmp_path: Path) -> dict[str, str]:
    samples = {}
    for name, variable in ENDPOINT_VARIABLES.items():
        if variable.kind == "path":
            samples[name] = str(tmp_path / f"{name.lower()}.pem")
        elif variable.kind == "port":
            samples[name] = "4242"
        else:
            samples[name] = f"https://{name.lower()}.example/x"
    return samples


def _as_json(values: dict[str, object]) -> dict[str, object]:
    return json.loads(json.dumps(values, default=str))


def test_every_variable_is_read_by_the_settings_with_the_same_setting_and_default(tmp_path: Path) -> None:
    """The table and config/settings.py agree: each variable fills its setting, absent it gives the same default."""
    samples = _samples(tmp_path)
    assert _started(tmp_path / "a", **samples) == _as_json(endpoint_settings(samples))
    assert _started(tmp_path / "b") == _as_json(endpoint_settings({}, complete=True))


def test_on_the_sandbox_the_published_file_is_read_once_and_the_environment_ignored(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "sandbox.env").write_text(
        "# written by caducee sandbox\n\nCADUCEE_INSI_URL=https://127.0.0.1:4443/lps\nCADUCEE_MSS_SMTP_PORT=2525\n",
        encoding="utf-8",
    )
    real = {"CADUCEE_INSI_URL": "https://insi.real/lps", "CADUCEE_DMP_URL": "https://dmp.real/services"}
    on_sandbox = _started(data_dir, CADUCEE_SANDBOX="1", **real)
    assert on_sandbox["INSI_URL"] == "https://127.0.0.1:4443/lps" and on_sandbox["MSS_SMTP_PORT"] == 2525
    assert on_sandbox["DMP_URL"] == ""  # a real endpoint in the environment is never used on the sandbox
    assert on_sandbox["VITALE_READER"] == "sesam"  # not published: the default
    real_run = _started(data_dir, **real)  # without CADUCEE_SANDBOX the sandbox's file is never read
    assert real_run["INSI_URL"] == "https://insi.real/lps" and real_run["DMP_URL"] == "https://dmp.real/services"
    assert real_run["MSS_SMTP_PORT"] == 587


def test_settings_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.env"
    assert read_settings_file(path) == {}
    path.write_text("# comment\n\n  CADUCEE_INSI_URL = https://h:1/lps  \nCADUCEE_INSI_IDAM=\n", encoding="utf-8")
    assert read_settings_file(path) == {"CADUCEE_INSI_URL": "https://h:1/lps", "CADUCEE_INSI_IDAM": ""}
    path.write_text("CADUCEE_INSI_URL\n", encoding="utf-8")
    with pytest.raises(ImproperlyConfigured, match="ligne 1"):
        read_settings_file(path)


def test_endpoint_settings_are_typed_and_strict(tmp_path: Path) -> None:
    values = {"CADUCEE_INSI_CERT": str(tmp_path / "c.pem"), "CADUCEE_MSS_IMAP_PORT": "1143", "CADUCEE_INSI_CA": ""}
    assert endpoint_settings(values) == {
        "INSI_CLIENT_CERT": tmp_path / "c.pem",
        "INSI_CA_BUNDLE": None,
        "MSS_IMAP_PORT": 1143,
    }
    complete = endpoint_settings(values, complete=True)
    assert len(complete) == len(ENDPOINT_VARIABLES) and complete["MSS_SMTP_PORT"] == 587 and complete["DMP_URL"] == ""
    with pytest.raises(ImproperlyConfigured, match="CADUCEE_INSI_TYPO"):
        endpoint_settings({"CADUCEE_INSI_TYPO": "x"})
    with pytest.raises(ImproperlyConfigured, match="entier attendu"):
        endpoint_settings({"CADUCEE_MSS_SMTP_PORT": "smtp"})
    with pytest.raises(ImproperlyConfigured, match="minimum 1"):
        endpoint_settings({"CADUCEE_MSS_SMTP_PORT": "0"})


def test_applied_for_a_block_then_restored(settings: object) -> None:
    settings.INSI_URL = "https://before/lps"  # type: ignore[attr-defined]
    with endpoint_settings_applied({"CADUCEE_INSI_URL": "https://during/lps"}):
        assert django_settings.INSI_URL == "https://during/lps"
    assert django_settings.INSI_URL == "https://before/lps"


def test_missing_settings_name_the_variables_and_the_sandbox(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"renseignez CADUCEE_X_URL, CADUCEE_X_CERT .*`caducee sandbox`"):
        check_endpoint_settings(service="X", url=("CADUCEE_X_URL", ""), files=(("CADUCEE_X_CERT", None),), what="x")
    with pytest.raises(ImproperlyConfigured, match="https://"):
        check_endpoint_settings(service="X", url=("CADUCEE_X_URL", "http://x"), files=(), what="x")
    with pytest.raises(ImproperlyConfigured, match="introuvable"):
        check_endpoint_settings(
            service="X", url=("CADUCEE_X_URL", "https://x"), files=(("CADUCEE_X_CERT", tmp_path / "no"),), what="x"
        )
