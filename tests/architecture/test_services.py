"""Services are keyword-only (DESIGN.md « Conventions », issue 12 §7): every public function of a `services.py` module
(or of a `services/` package) of `src/caducee` takes its arguments by name — `def thing_do(*, actor, ...)` — so a
call reads as what it does and an argument cannot land in the wrong parameter. Reads live in `selectors.py`, pure
helpers in a module named for what they are; neither is checked here.

Read with `ast`: nothing is imported, so the check holds for code that no test reaches.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "caducee"


def service_modules() -> list[Path]:
    return sorted(
        path
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts and (path.name == "services.py" or "services" in path.parent.parts)
    )


def positional_services(path: Path, root: Path = SRC) -> list[str]:
    """`module:line name(parameters)` for each public top-level function with a positional parameter."""
    found: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name.startswith("_"):
            continue
        positional = [a.arg for a in node.args.posonlyargs + node.args.args]
        if positional or node.args.vararg is not None:
            found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}({', '.join(positional)})")
    return found


def test_the_services_are_found() -> None:
    modules = {str(path.relative_to(SRC)) for path in service_modules()}
    assert {"dmp/services.py", "mss/services.py", "record/services.py", "documents/services.py"} <= modules


def test_public_services_take_keyword_only_arguments() -> None:
    offenders = [line for path in service_modules() for line in positional_services(path)]
    assert offenders == [], (
        "Public service functions take keyword-only arguments (`def entity_action(*, actor, ...)`); move reads to "
        "selectors.py and pure helpers to a module named for what they are:\n" + "\n".join(offenders)
    )


def test_the_check_sees_a_positional_parameter(tmp_path: Path) -> None:
    source = tmp_path / "services.py"
    source.write_text(
        "def thing_do(actor): ...\n"
        "def thing_undo(*, actor): ...\n"
        "def _helper(value): ...\n"
        "def things_all(*things): ...\n"
        "async def thing_wait(thing, /): ...\n",
        encoding="utf-8",
    )
    assert positional_services(source, root=tmp_path) == [
        "services.py:1 thing_do(actor)",
        "services.py:4 things_all()",
        "services.py:5 thing_wait(thing)",
    ]
