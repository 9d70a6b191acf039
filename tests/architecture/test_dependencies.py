"""Issue 12 §8: a practice's server installs the product without the sandbox's weight. Twisted, pyOpenSSL and
service-identity are the `sandbox` extra only, and no product module outside `sandbox/` imports them (at module
level or inside a function), so `pip install -e .` gives a working `caducee` (check, serve, worker…) and
`caducee demo` / `caducee sandbox` say how to add the extra."""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from caducee import cli

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "caducee"
SANDBOX_ONLY = {"twisted": "Twisted", "OpenSSL": "pyOpenSSL", "service_identity": "service-identity"}


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[=<>!~ ;]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_the_sandbox_packages_are_an_extra_not_the_base() -> None:
    project = _project()
    base = _names(project["dependencies"])  # type: ignore[arg-type]
    extras = project["optional-dependencies"]
    sandbox = _names(extras["sandbox"])  # type: ignore[index]
    assert {"twisted", "pyopenssl", "service-identity"} <= sandbox
    assert not base & sandbox
    assert "saxonche" in base  # `caducee check-cda` runs the ANS schematrons (XSLT 2) at run time
    assert {"pytest", "pytest-django"} <= _names(extras["test"])  # type: ignore[index]


def test_only_the_sandbox_imports_the_sandbox_packages() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.relative_to(SRC).parts[0] == "sandbox":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(SRC)}:{node.lineno} {module}"
                for module in modules
                if module.split(".")[0] in SANDBOX_ONLY
            ]
    assert offenders == []


def test_the_cli_knows_the_same_packages() -> None:
    assert cli.SANDBOX_MODULES == SANDBOX_ONLY


@pytest.mark.parametrize("command", ["demo", "sandbox"])
def test_demo_and_sandbox_without_the_extra_say_how_to_install_it(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util, "find_spec", lambda name, *a: None if name == "twisted" else real_find_spec(name, *a)
    )
    with pytest.raises(SystemExit) as stopped:
        cli.main(["caducee", command])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"caducee {command} : " in err and "(manque : Twisted)" in err
    assert "-m pip install -e '.[sandbox]'" in err and "Traceback" not in err


def test_other_commands_do_not_need_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name, *a: None)
    called: list[list[str]] = []
    monkeypatch.setattr("django.core.management.execute_from_command_line", called.append)
    cli.main(["caducee", "check"])
    assert called == [["caducee", "check"]]
