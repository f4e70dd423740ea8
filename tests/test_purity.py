"""The core is pure: it imports no storage, web framework, signal or I/O library."""

import ast
import pathlib

import pytest

import supportkit

CORE = [
    "lifecycle",
    "calendar",
    "sla",
    "routing",
    "escalation",
    "durations",
    "workflow",
    "models",
    "errors",
]
FORBIDDEN = {
    "sqlite3", "sqlite_utils", "psycopg", "psycopg_pool", "flask", "django", "blinker",
    "pluggy", "httpx", "requests", "socket", "urllib", "http", "smtplib", "subprocess",
    "time", "random", "secrets", "uuid", "os", "threading_timer", "asyncio", "click", "rich",
}  # fmt: skip
PACKAGE = pathlib.Path(supportkit.__file__).parent


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_nothing_impure(module: str) -> None:
    used = imported_modules(PACKAGE / f"{module}.py")
    assert not used & FORBIDDEN, f"{module}.py imports {sorted(used & FORBIDDEN)}"


@pytest.mark.parametrize("module", CORE)
def test_core_module_never_reads_the_clock(module: str) -> None:
    source = (PACKAGE / f"{module}.py").read_text()
    for call in (".now(", ".utcnow(", ".today(", "time.time(", "monotonic("):
        assert call not in source, f"{module}.py calls {call}"


def test_forbidden_list_would_catch_an_impure_import(tmp_path: pathlib.Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import sqlite3\nfrom flask import Flask\nfrom . import sla\n")
    assert imported_modules(sample) & FORBIDDEN == {"sqlite3", "flask"}
