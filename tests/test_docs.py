"""docs/plugins.md documents every hook, and its examples are real Python.

Like datasette's test_docs: adding a hook to :mod:`supportkit.hookspecs` fails here
until it is documented, and a documented hook that no longer exists fails too.
"""

from __future__ import annotations

import re
import tomllib
import types
from pathlib import Path

import pytest

from supportkit import hookspecs
from supportkit.plugins import (
    Authenticator,
    Integration,
    Notifier,
    Principal,
    authenticators,
    get_plugin_manager,
    integrations,
    notifiers,
    storage_factories,
)
from supportkit.storage import Storage

DOCS = Path(__file__).resolve().parent.parent / "docs"
PLUGINS_MD = DOCS / "plugins.md"

FENCE = re.compile(r"^```[ \t]*(?P<lang>[\w+-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
HEADING = re.compile(r"^#{1,6}[ \t]+(?P<text>.+?)[ \t]*$", re.M)
HOOK_CALL = re.compile(r"\b(supportkit_\w+)\(")


def hook_names() -> list[str]:
    marker = f"{hookspecs.PROJECT}_spec"
    return sorted(name for name, obj in vars(hookspecs).items() if hasattr(obj, marker))


def signature(name: str) -> str:
    """``name(arg, …) -> Return``, as the hookspec declares it."""
    caller = getattr(get_plugin_manager(load_entrypoints=False).hook, name)
    assert caller.spec is not None
    args = ", ".join(caller.spec.argnames)
    returns = getattr(hookspecs, name).__annotations__["return"]
    return f"{name}({args}) -> {returns}"


def code_blocks(*languages: str) -> list[str]:
    text = PLUGINS_MD.read_text(encoding="utf-8")
    return [m["body"] for m in FENCE.finditer(text) if m["lang"] in languages]


def python_blocks() -> list[str]:
    return code_blocks("python", "py")


def headings() -> list[str]:
    text = PLUGINS_MD.read_text(encoding="utf-8")
    # Drop fenced blocks first: a "# comment" line in code is not a heading.
    text = FENCE.sub("", text)
    return [m["text"] for m in HEADING.finditer(text)]


def plugin_blocks() -> list[str]:
    """The complete example plugins: blocks that start with a ``# <package>/plugin.py``
    comment and define a hook implementation at module level."""
    return [
        b
        for b in python_blocks()
        if re.match(r"# [\w/]+/plugin\.py\n", b) and re.search(r"^@hookimpl\s*\ndef ", b, re.M)
    ]


def load_block(block: str, index: int) -> types.ModuleType:
    module = types.ModuleType(f"plugins_md_example_{index}")
    exec(compile(block, f"plugins.md example {index}", "exec"), module.__dict__)
    return module


def test_hookspecs_found() -> None:
    assert hook_names() == sorted(n for n in hookspecs.__all__ if n.startswith("supportkit_"))


@pytest.mark.parametrize("hook", hook_names())
def test_hook_is_documented(hook: str) -> None:
    caller = getattr(get_plugin_manager(load_entrypoints=False).hook, hook)
    assert caller.spec is not None
    call = f"{hook}({', '.join(caller.spec.argnames)})"
    assert any(call in heading for heading in headings()), (
        f"docs/plugins.md needs a heading with `{call}`"
    )
    text = PLUGINS_MD.read_text(encoding="utf-8")
    assert signature(hook) in text, f"docs/plugins.md needs the line {signature(hook)!r}"


def test_every_documented_hook_exists() -> None:
    documented = {m for heading in headings() for m in HOOK_CALL.findall(heading)}
    assert documented, "no hook headings found in docs/plugins.md"
    assert documented <= set(hook_names()), documented - set(hook_names())


def test_example_hook_implementations_name_real_hooks() -> None:
    defined = {
        name for block in python_blocks() for name in re.findall(r"def (supportkit_\w+)\(", block)
    }
    assert defined == set(hook_names())


def test_python_blocks_compile() -> None:
    blocks = python_blocks()
    assert blocks
    for block in blocks:
        compile(block, "plugins.md", "exec")


def test_toml_blocks_parse() -> None:
    blocks = code_blocks("toml")
    assert blocks
    for block in blocks:
        data = tomllib.loads(block)
        assert "supportkit" in data["project"]["entry-points"]


def test_example_plugins_work() -> None:
    """Each example plugin registers, and its hook returns the documented interface."""
    blocks = plugin_blocks()
    assert len(blocks) >= len(hook_names())
    modules = [load_block(block, i) for i, block in enumerate(blocks)]
    manager = get_plugin_manager(load_entrypoints=False, plugins=modules)
    manager.check_pending()

    factories = storage_factories(manager)
    assert set(factories) > {"sqlite"}
    assert all(callable(f) for f in factories.values())
    found_notifiers = notifiers(manager)
    assert found_notifiers
    assert all(isinstance(n, Notifier) for n in found_notifiers.values())
    found_integrations = integrations(manager)
    assert found_integrations
    assert all(isinstance(i, Integration) for i in found_integrations.values())
    found_authenticators = authenticators(manager)
    assert found_authenticators
    assert all(isinstance(a, Authenticator) for a in found_authenticators)


def test_example_storage_backend_opens(tmp_path: Path) -> None:
    modules = [load_block(block, i) for i, block in enumerate(plugin_blocks())]
    manager = get_plugin_manager(load_entrypoints=False, plugins=modules)
    storage = storage_factories(manager)["tenant"]("tenant://acme", {"root": str(tmp_path)})
    try:
        assert isinstance(storage, Storage)
        with storage.write() as tx:
            assert tx.next_ticket_number(2026) == 1
    finally:
        storage.close()
    assert (tmp_path / "acme.db").exists()


def test_example_authenticator_accepts_its_tokens() -> None:
    from datetime import UTC, datetime

    modules = [load_block(block, i) for i, block in enumerate(plugin_blocks())]
    manager = get_plugin_manager(load_entrypoints=False, plugins=modules)
    now = datetime(2026, 1, 5, tzinfo=UTC)
    from supportkit.api.auth import ApiKeyAuthenticator

    (auth,) = [a for a in authenticators(manager) if not isinstance(a, ApiKeyAuthenticator)]
    principal = auth.authenticate("Bearer ops-admin-token", desk=None, now=now)
    assert principal == Principal(role="admin", key_id="ops")
    assert auth.authenticate("Bearer nope", desk=None, now=now) is None
    assert auth.authenticate("Basic b3Bz", desk=None, now=now) is None


def test_no_machine_paths() -> None:
    text = PLUGINS_MD.read_text(encoding="utf-8")
    assert not re.search(r"(/home/|/Users/|/work/|/tmp/|[A-Z]:\\\\)", text)
