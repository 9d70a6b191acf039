"""The house (DESIGN.md « Layout », docs/architecture.md « Floors »): every import between apps, at module level and
inside functions alike, read with `ast`, must follow the floor table of docs/architecture.md.

- an app imports only apps on a lower floor (never sideways, never upward);
- `sandbox` imports from the product nothing but the modules of constants the table names (DESIGN.md principle 1:
  a stand-in that decoded with the product's codecs would mirror the product's mistakes and pass);
- the product imports `sandbox` only from the top floor's demo;
- no cycle between apps.
The table is read from the documentation, so the documented house and the enforced one cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "caducee"
DOC = ROOT / "docs" / "architecture.md"


def floor_table() -> tuple[dict[str, int], set[str], set[str]]:
    """(app → floor, wiring apps that may import any product app, constant modules the sandbox may import)."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- floors -->")[1]
    floors: dict[str, int] = {}
    wiring: set[str] = set()
    for line in block.splitlines():
        match = re.match(r"\|\s*(\d+|wiring|apart)\s*\|([^|]+)\|", line)
        if not match:
            continue
        apps = re.findall(r"`(\w+)/?`", match.group(2))
        for app in apps:
            if match.group(1) == "wiring":
                wiring.add(app)
            elif match.group(1) == "apart":
                floors[app] = 0  # the sandbox: its own rule below
            else:
                floors[app] = int(match.group(1))
    constants = set(re.findall(r"`(caducee(?:\.\w+)+)`", text.split("<!-- sandbox-constants -->")[1]))
    return floors, wiring, constants


def app_of(module: str) -> str:
    return module.split(".")[1]


def imports() -> list[tuple[str, str, str]]:
    """(importing module, imported module, "file:line") for every import of a caducee module."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent)
        parts = list(rel.with_suffix("").parts)
        package = parts[:-1]  # the package a relative import starts from (for __init__ too)
        module = ".".join(parts if path.name != "__init__.py" else parts[:-1])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    stem = ".".join([*base, node.module] if node.module else base)
                else:
                    stem = node.module or ""
                targets = [stem] + [f"{stem}.{a.name}" for a in node.names if is_module(f"{stem}.{a.name}")]
            for target in targets:
                if target.startswith("caducee."):
                    found.append((module, target, f"{rel}:{node.lineno}"))
    # `importlib.import_module("caducee.x")` and friends: an import all the same.
    for path in sorted(SRC.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for target in re.findall(r"import_module\(\s*[\"'](caducee\.[\w.]+)", line):
                rel = path.relative_to(SRC.parent)
                found.append((".".join(rel.with_suffix("").parts), target, f"{rel}:{number}"))
    return found


def is_module(name: str) -> bool:
    path = SRC.parent / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_every_app_has_a_floor() -> None:
    floors, wiring, _ = floor_table()
    apps = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    apps |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert apps - set(floors) - wiring == set(), "apps missing from the floor table of docs/architecture.md"


def test_no_upward_or_sideways_import() -> None:
    floors, wiring, constants = floor_table()
    wrong = []
    for source, target, where in imports():
        a, b = app_of(source), app_of(target)
        if a == b or a in wiring or b == "__init__":
            continue
        if a == "sandbox":
            if is_module(target) and target not in constants:
                wrong.append(f"{where}: the sandbox imports {target} (only constant modules: {sorted(constants)})")
            continue
        if b == "sandbox":
            if not source.startswith("caducee.cabinet."):
                wrong.append(f"{where}: {source} imports the sandbox (only the top floor's demo may)")
            continue
        if b in wiring:
            wrong.append(f"{where}: {source} imports {target} (wiring)")
        elif floors[b] >= floors[a]:
            side = "sideways" if floors[b] == floors[a] else "upward"
            wrong.append(f"{where}: {a} (floor {floors[a]}) imports {b} (floor {floors[b]}) {side}: {target}")
    assert wrong == [], "\n".join(wrong)


def test_product_imports_sandbox_only_from_the_demo() -> None:
    wrong = [
        f"{where}: {source} → {target}"
        for source, target, where in imports()
        if app_of(target) == "sandbox"
        and app_of(source) != "sandbox"
        and not (source.startswith("caducee.cabinet.") and "demo" in source)
    ]
    assert wrong == [], "\n".join(wrong)


def test_no_cycle_between_apps() -> None:
    """No strongly connected group of apps (wiring apart, which imports everything by design)."""
    _, wiring, _ = floor_table()
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target, _where in imports():
        a, b = app_of(source), app_of(target)
        if a != b and b != "__init__" and a not in wiring and b not in wiring:
            graph[a].add(b)

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reach = {app: reachable(app) for app in list(graph)}
    cycles = sorted(
        {
            " ↔ ".join(sorted(a for a in reach if a in reach[app] and app in reach[a]))
            for app in reach
            if app in reach[app]
        }
    )
    assert cycles == [], "apps in a cycle: " + "; ".join(cycles)


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The reader is not blind to the imports the review found hidden in functions."""
    tree = ast.parse("def f():\n    from caducee.mss.worklist import rescore\n")
    found = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert found == ["caducee.mss.worklist"]
