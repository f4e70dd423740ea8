"""The plugin manager and the hooks: built-ins, precedence, and a real entry point.

Every hook in :mod:`supportkit.hookspecs` needs a ``test_hook_<hook name>…`` test here;
``test_every_hook_has_a_test`` fails for a new hook until one is written.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pluggy
import pytest

import supportkit
from supportkit import hookspecs
from supportkit.backends.sqlite import SQLiteStorage, open_sqlite
from supportkit.errors import ValidationError
from supportkit.hookspecs import hookimpl
from supportkit.plugins import (
    BUILTIN_PLUGINS,
    Authenticator,
    Integration,
    Notification,
    Notifier,
    Principal,
    authenticators,
    get_plugin_manager,
    integrations,
    notifiers,
    storage_factories,
)
from supportkit.storage import Storage, Transaction

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def hook_names() -> list[str]:
    """The names of the hooks declared in :mod:`supportkit.hookspecs`."""
    marker = f"{hookspecs.PROJECT}_spec"
    return sorted(name for name, obj in vars(hookspecs).items() if hasattr(obj, marker))


def manager(*plugins: object) -> pluggy.PluginManager:
    """A manager with the built-ins and ``plugins``, ignoring installed entry points."""
    return get_plugin_manager(load_entrypoints=False, plugins=plugins)


# -- test plugins ------------------------------------------------------------------------


class MemoStorage(Storage):
    """A ``memo://`` backend: an in-memory SQLite database behind another scheme."""

    scheme = "memo"

    def __init__(self, url: str, options: Mapping[str, Any]) -> None:
        self.url = url
        self.options = dict(options)
        self._inner = SQLiteStorage(None)

    def write(self) -> AbstractContextManager[Transaction]:
        return self._inner.write()

    def read(self) -> AbstractContextManager[Transaction]:
        return self._inner.read()

    def close(self) -> None:
        self._inner.close()


class MemoBackendPlugin:
    @hookimpl
    def supportkit_storage_backends(self) -> Mapping[str, Any]:
        return {"memo": MemoStorage}


class RecordingNotifier(Notifier):
    def __init__(self, label: str = "") -> None:
        self.label = label
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)

    def validate(self, recipients: Sequence[Mapping[str, Any]]) -> None:
        for index, recipient in enumerate(recipients):
            if not recipient.get("pager"):
                raise ValidationError.for_field(f"recipients[{index}]", "no pager number")


class RecordingIntegration(Integration):
    events = ("ticket.created",)

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.handled: list[tuple[str, Mapping[str, Any], Any]] = []

    def handle(self, event_type: str, payload: Mapping[str, Any], *, config: Any) -> None:
        self.handled.append((event_type, payload, config))


class TokenAuthenticator(Authenticator):
    """Accepts ``Token <token>`` headers for the tokens it knows."""

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        self.tokens = dict(tokens)
        self.calls: list[tuple[str, Any, datetime]] = []

    def authenticate(self, authorization: str, *, desk: Any, now: datetime) -> Principal | None:
        self.calls.append((authorization, desk, now))
        scheme, _, token = authorization.partition(" ")
        if scheme != "Token":
            return None
        return self.tokens.get(token)


class Provides:
    """A plugin object whose hooks return what it was given (``None`` by default)."""

    def __init__(
        self,
        *,
        backends: Mapping[str, Any] | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
        integrations: Mapping[str, Integration] | None = None,
        authenticators: Sequence[Authenticator] | None = None,
    ) -> None:
        self.backends = backends
        self.notifiers = notifiers
        self.integrations = integrations
        self.authenticators = authenticators

    @hookimpl
    def supportkit_storage_backends(self) -> Mapping[str, Any] | None:
        return self.backends

    @hookimpl
    def supportkit_notifiers(self) -> Mapping[str, Notifier] | None:
        return self.notifiers

    @hookimpl
    def supportkit_integrations(self) -> Mapping[str, Integration] | None:
        return self.integrations

    @hookimpl
    def supportkit_authenticators(self) -> Sequence[Authenticator] | None:
        return self.authenticators


def reserve_numbers(storage: Storage, year: int, count: int) -> list[int]:
    numbers = []
    for _ in range(count):
        with storage.write() as tx:
            numbers.append(tx.next_ticket_number(year))
    return numbers


# -- the manager -------------------------------------------------------------------------


def test_every_hook_has_a_test() -> None:
    names = hook_names()
    assert names, "no hookspecs found"
    assert set(names) == {n for n in hookspecs.__all__ if n.startswith("supportkit_")}
    tests = [name for name in globals() if name.startswith("test_hook_")]
    missing = [hook for hook in names if not any(hook in test for test in tests)]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"


def test_manager_knows_every_hook() -> None:
    m = manager()
    for name in hook_names():
        assert getattr(m.hook, name).has_spec(), name
    m.check_pending()  # every registered implementation matches a spec


def test_a_fresh_manager_per_call() -> None:
    first, second = manager(), manager()
    assert first is not second
    plugin = MemoBackendPlugin()
    first.register(plugin)
    assert first.is_registered(plugin)
    assert not second.is_registered(plugin)
    assert "memo" in storage_factories(first)
    assert "memo" not in storage_factories(second)
    assert "memo" not in storage_factories(manager())


def test_plugins_passed_in_are_registered_after_the_builtins() -> None:
    plugin = MemoBackendPlugin()
    m = manager(plugin)
    names = [name for name, _ in m.list_name_plugin()]
    assert names[: len(BUILTIN_PLUGINS)] == list(BUILTIN_PLUGINS)
    assert m.get_plugins() >= {plugin}
    assert m.get_name(plugin) not in BUILTIN_PLUGINS


def test_builtin_sqlite_backend_is_registered_through_the_hook() -> None:
    m = get_plugin_manager()
    factory = storage_factories(m)["sqlite"]
    assert factory is open_sqlite
    assert m.has_plugin("supportkit.backends.sqlite")
    storage = factory("sqlite://", {})
    try:
        assert isinstance(storage, Storage)
        assert storage.scheme == "sqlite"
        assert reserve_numbers(storage, 2026, 3) == [1, 2, 3]
        assert reserve_numbers(storage, 2027, 1) == [1]
        with storage.read() as tx:
            assert tx.get_ticket("missing") is None
    finally:
        storage.close()


def test_builtin_sqlite_factory_checks_its_options() -> None:
    factory = storage_factories(manager())["sqlite"]
    with pytest.raises(ValidationError) as info:
        factory("sqlite://", {"busy_timeout": -1})
    assert info.value.errors[0].field == "busy_timeout"


def test_a_plugin_may_return_none_from_every_hook() -> None:
    from supportkit.api.auth import ApiKeyAuthenticator

    m = manager(Provides())
    # Only the built-ins: the SQLite and PostgreSQL backends and API-key authentication.
    assert set(storage_factories(m)) == {"sqlite", "postgresql", "postgres"}
    assert notifiers(m) == {}
    assert integrations(m) == {}
    assert [type(a) for a in authenticators(m)] == [ApiKeyAuthenticator]


# -- supportkit_storage_backends ---------------------------------------------------------


def test_hook_supportkit_storage_backends_adds_a_scheme() -> None:
    m = manager(MemoBackendPlugin())
    factories = storage_factories(m)
    assert factories["sqlite"] is open_sqlite
    storage = factories["memo"]("memo://", {"busy_timeout": 5})
    try:
        assert isinstance(storage, MemoStorage)
        assert storage.scheme == "memo"
        assert storage.url == "memo://"
        assert storage.options == {"busy_timeout": 5}
        assert reserve_numbers(storage, 2026, 2) == [1, 2]
    finally:
        storage.close()


def test_hook_supportkit_storage_backends_later_plugin_wins() -> None:
    def first(url: str, options: Mapping[str, Any]) -> Storage:
        raise AssertionError("replaced")

    def second(url: str, options: Mapping[str, Any]) -> Storage:
        return MemoStorage(url, options)

    m = manager(Provides(backends={"memo": first}), Provides(backends={"memo": second}))
    assert storage_factories(m)["memo"] is second
    # The reverse order gives the reverse answer: precedence is registration order.
    m = manager(Provides(backends={"memo": second}), Provides(backends={"memo": first}))
    assert storage_factories(m)["memo"] is first


def test_hook_supportkit_storage_backends_plugin_replaces_a_builtin() -> None:
    def replacement(url: str, options: Mapping[str, Any]) -> Storage:
        return MemoStorage(url, options)

    m = manager(Provides(backends={"sqlite": replacement}))
    assert storage_factories(m)["sqlite"] is replacement
    assert storage_factories(manager())["sqlite"] is open_sqlite


# -- supportkit_notifiers ----------------------------------------------------------------


def test_hook_supportkit_notifiers() -> None:
    pager = RecordingNotifier()
    m = manager(Provides(notifiers={"pager": pager}))
    found = notifiers(m)
    assert found == {"pager": pager}
    notification = Notification(
        channel="pager",
        recipients=({"pager": "+15550100"},),
        body="SK-2026-000001 breached its response SLA",
        ticket_id="tkt_1",
    )
    found["pager"].validate(notification.recipients)
    found["pager"].send(notification)
    assert pager.sent == [notification]
    with pytest.raises(ValidationError) as info:
        found["pager"].validate([{"pager": "+15550100"}, {"email": "a@example.com"}])
    assert info.value.errors[0].field == "recipients[1]"


def test_hook_supportkit_notifiers_later_plugin_wins() -> None:
    early, late, other = RecordingNotifier("early"), RecordingNotifier("late"), RecordingNotifier()
    m = manager(
        Provides(notifiers={"pager": early, "fax": other}),
        Provides(notifiers={"pager": late}),
    )
    assert notifiers(m) == {"pager": late, "fax": other}


def test_notifier_validate_accepts_everything_by_default() -> None:
    class Quiet(Notifier):
        def send(self, notification: Notification) -> None:
            pass

    Quiet().validate([{}])  # no exception
    with pytest.raises(TypeError):
        Notifier()  # type: ignore[abstract]


# -- supportkit_integrations -------------------------------------------------------------


def test_hook_supportkit_integrations() -> None:
    chat = RecordingIntegration()
    m = manager(Provides(integrations={"chat": chat}))
    found = integrations(m)
    assert found == {"chat": chat}
    assert found["chat"].events == ("ticket.created",)
    found["chat"].handle("ticket.created", {"ticket_id": "tkt_1"}, config={"room": "#support"})
    assert chat.handled == [("ticket.created", {"ticket_id": "tkt_1"}, {"room": "#support"})]


def test_hook_supportkit_integrations_later_plugin_wins() -> None:
    early, late = RecordingIntegration("early"), RecordingIntegration("late")
    m = manager(Provides(integrations={"chat": early}), Provides(integrations={"chat": late}))
    assert integrations(m) == {"chat": late}


def test_integration_wants_every_event_by_default() -> None:
    class Everything(Integration):
        def handle(self, event_type: str, payload: Mapping[str, Any], *, config: Any) -> None:
            pass

    assert Everything.events == ()


# -- supportkit_authenticators -----------------------------------------------------------


def test_hook_supportkit_authenticators() -> None:
    agent = Principal(role="agent", agent_id="agt_1", key_id="key_1")
    tokens = TokenAuthenticator({"secret": agent})
    m = manager(Provides(authenticators=[tokens]))
    found = authenticators(m)
    assert found[1:] == [tokens]  # after the built-in API-key authenticator
    found = found[1:]
    assert found[0].authenticate("Token secret", desk=None, now=NOW) == agent
    assert found[0].authenticate("Token wrong", desk=None, now=NOW) is None
    assert found[0].authenticate("Basic dXNlcg==", desk=None, now=NOW) is None
    assert tokens.calls[0] == ("Token secret", None, NOW)


def test_hook_supportkit_authenticators_keep_registration_order() -> None:
    admin = Principal(role="admin")
    customer = Principal(role="customer", customer_id="cus_1")
    a1 = TokenAuthenticator({"shared": admin})
    a2 = TokenAuthenticator({})
    b1 = TokenAuthenticator({"shared": customer})
    m = manager(Provides(authenticators=[a1, a2]), Provides(authenticators=(b1,)))
    found = authenticators(m)[1:]  # after the built-in API-key authenticator
    assert found == [a1, a2, b1]
    # Tried in order, the first that recognises the header decides.
    first = next(
        p for a in found if (p := a.authenticate("Token shared", desk=None, now=NOW)) is not None
    )
    assert first == admin


# -- Principal ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal",
    [
        Principal(role="admin"),
        Principal(role="agent", agent_id="agt_1"),
        Principal(role="customer", customer_id="cus_1", key_id="key_1"),
    ],
)
def test_principal_accepts_the_known_roles(principal: Principal) -> None:
    assert principal.role in ("admin", "agent", "customer")


def test_principal_refuses_an_unknown_role() -> None:
    with pytest.raises(ValidationError) as info:
        Principal(role="root")
    assert info.value.errors[0].field == "role"
    assert "root" in str(info.value)


@pytest.mark.parametrize("customer_id", [None, ""])
def test_principal_customer_needs_a_customer_id(customer_id: str | None) -> None:
    with pytest.raises(ValidationError) as info:
        Principal(role="customer", customer_id=customer_id)
    assert info.value.errors[0].field == "customer_id"


# -- a real entry point ------------------------------------------------------------------

PLUGIN_MODULE = '''\
"""A storage backend for memo:// URLs, installed as a distribution."""

from supportkit.backends.sqlite import SQLiteStorage
from supportkit.hookspecs import hookimpl
from supportkit.storage import Storage


class MemoStorage(Storage):
    scheme = "memo"

    def __init__(self, url, options):
        self.url = url
        self._inner = SQLiteStorage(None)

    def write(self):
        return self._inner.write()

    def read(self):
        return self._inner.read()

    def close(self):
        self._inner.close()


def factory(url, options):
    return MemoStorage(url, options)


@hookimpl
def supportkit_storage_backends():
    return {"memo": factory}
'''

ENTRY_POINT_SCRIPT = """\
import importlib.util
import json

from supportkit.plugins import get_plugin_manager, storage_factories
from supportkit.storage import Storage

m = get_plugin_manager()
st = storage_factories(m)["memo"]("memo://", {})
numbers = []
for _ in range(2):
    with st.write() as tx:
        n = tx.next_ticket_number(2026)
    numbers.append(n)
st.close()

desk = None
if importlib.util.find_spec("supportkit.desk") is not None:
    from supportkit.desk import Desk

    opened = Desk.open("memo://")
    desk = type(opened).__name__
    close = getattr(opened, "close", None)
    if close is not None:
        close()

print(json.dumps({
    "numbers": numbers,
    "storage": [type(st).__module__, type(st).__name__, st.scheme, isinstance(st, Storage)],
    "plugins": sorted(name for name, _ in m.list_name_plugin()),
    "dists": sorted(dist.project_name for _, dist in m.list_plugin_distinfo()),
    "without_entrypoints": sorted(storage_factories(get_plugin_manager(load_entrypoints=False))),
    "desk": desk,
}))
"""


def install_memo_plugin(site: Path) -> None:
    """Lay out an installed distribution, as pip would, with a ``supportkit`` entry point."""
    site.mkdir()
    (site / "supportkit_memo_plugin.py").write_text(PLUGIN_MODULE)
    dist_info = site / "supportkit_memo_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: supportkit-memo-plugin\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text("[supportkit]\nmemo = supportkit_memo_plugin\n")
    (dist_info / "RECORD").write_text(
        "supportkit_memo_plugin.py,,\n"
        "supportkit_memo_plugin-0.1.dist-info/METADATA,,\n"
        "supportkit_memo_plugin-0.1.dist-info/entry_points.txt,,\n"
        "supportkit_memo_plugin-0.1.dist-info/RECORD,,\n"
    )


@pytest.fixture
def memo_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    install_memo_plugin(site)
    return site


def test_entry_point_plugin_is_loaded_in_a_fresh_process(memo_site: Path) -> None:
    # A subprocess, so this process's importlib.metadata view stays as it was.
    package_root = Path(supportkit.__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(memo_site), str(package_root), env.get("PYTHONPATH")) if p
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ENTRY_POINT_SCRIPT)],
        env=env,
        cwd=memo_site.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["numbers"] == [1, 2]
    assert result["storage"] == ["supportkit_memo_plugin", "MemoStorage", "memo", True]
    assert "memo" in result["plugins"]
    assert "supportkit.backends.sqlite" in result["plugins"]
    assert "supportkit-memo-plugin" in result["dists"]
    assert "memo" not in result["without_entrypoints"]
    assert "sqlite" in result["without_entrypoints"]
    if importlib.util.find_spec("supportkit.desk") is not None:
        assert result["desk"] == "Desk"
    else:
        assert result["desk"] is None


def test_entry_point_plugin_is_not_seen_by_this_process() -> None:
    assert "memo" not in storage_factories(get_plugin_manager())


def test_desk_open_takes_plugins() -> None:
    desk_module = pytest.importorskip("supportkit.desk", reason="supportkit.desk not written yet")
    plugin = MemoBackendPlugin()
    opened = desk_module.Desk.open(
        "memo://", plugins=[plugin], load_entrypoints=False, storage_options={"busy_timeout": 5}
    )
    try:
        assert isinstance(opened, desk_module.Desk)
        assert isinstance(opened.storage, MemoStorage)
        assert opened.storage.options == {"busy_timeout": 5}
        assert opened.plugin_manager.is_registered(plugin)
    finally:
        opened.close()


def test_desk_open_refuses_a_scheme_without_backend() -> None:
    desk_module = pytest.importorskip("supportkit.desk", reason="supportkit.desk not written yet")
    with pytest.raises(ValidationError) as info:
        desk_module.Desk.open("memo://", load_entrypoints=False)
    assert info.value.errors[0].field == "url"
