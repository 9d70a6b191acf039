"""The `caducee` command: Django's management commands, with hyphenated names (`seed-demo`)."""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys

# The commands that run the national-service stand-ins, and what they need beyond a production install: the
# `sandbox` extra of pyproject.toml (Twisted with its TLS: the MSSanté operator's SMTP/IMAP).
SANDBOX_COMMANDS = ("demo", "sandbox")
SANDBOX_MODULES = {"twisted": "Twisted", "OpenSSL": "pyOpenSSL", "service_identity": "service-identity"}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caducee.config.settings")
    if len(args) > 1 and not args[1].startswith("-"):
        args[1] = args[1].replace("-", "_")
        if args[1] in SANDBOX_COMMANDS and _runs_the_mss_operator(args):
            _require_sandbox_extra(args[1])
        if args[1] == "demo":
            _prepare_demo()
    args[0] = "caducee"
    from django.core.management import execute_from_command_line

    execute_from_command_line(args)


def _runs_the_mss_operator(args: list[str]) -> bool:
    """Whether the command starts the MSS operator: `caducee sandbox --only insi` (what `caducee insi` starts on a
    fresh sandbox data dir) does not, and runs on a production install."""
    if args[1] != "sandbox":
        return True
    only = [b for a, b in itertools.pairwise(args) if a == "--only"]
    only += [a.removeprefix("--only=") for a in args if a.startswith("--only=")]
    return not only or "mss" in only


def _require_sandbox_extra(command: str) -> None:
    """Stops with a French message naming the install command when the `sandbox` extra is not installed."""
    missing = [package for module, package in SANDBOX_MODULES.items() if importlib.util.find_spec(module) is None]
    if missing:
        sys.stderr.write(
            f"caducee {command} : les bacs à sable des services nationaux demandent l'option « sandbox », "
            f"non installée (manque : {', '.join(missing)}).\n"
            f"Installez-la (depuis le dossier des sources) : {sys.executable} -m pip install -e '.[sandbox]'\n"
        )
        raise SystemExit(2)


def _prepare_demo() -> None:
    """The demo always runs on the sandbox, in a fresh SQLite database of its own."""
    import shutil
    from pathlib import Path

    os.environ["CADUCEE_SANDBOX"] = "1"
    os.environ.pop("DATABASE_URL", None)
    base = Path(os.environ.get("CADUCEE_DATA_DIR") or Path.cwd() / "var")
    demo_dir = base / "demo"
    # A fresh database restarts the document sequences: the sandbox DMP's own store goes with it, or the
    # new documents would collide with the previous run's under the same uniqueIds.
    for name in ("caducee.sqlite3", "sandbox/dmp.sqlite3", "sandbox/mss.sqlite3"):
        for suffix in ("", "-wal", "-shm"):
            (demo_dir / f"{name}{suffix}").unlink(missing_ok=True)
    # Received messages and documents waiting in the work list belong to the database that goes. The endpoint
    # settings of a previous run's sandboxes (killed without their stop) too: the demo's own replace them.
    shutil.rmtree(demo_dir / "mss", ignore_errors=True)
    (demo_dir / "sandbox.env").unlink(missing_ok=True)
    os.environ["CADUCEE_DATA_DIR"] = str(demo_dir)


if __name__ == "__main__":
    main()
