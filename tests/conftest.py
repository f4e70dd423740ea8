"""Shared test configuration.

Hypothesis profiles: ``ci`` (quick, and derandomized: every run tries the same
examples), ``dev`` (the default) and ``thorough``. Pick one with
``HYPOTHESIS_PROFILE=<name>``; when that is unset and ``CI`` is set, ``ci`` is used.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)


def _profile_name() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if os.environ.get("CI") else "dev"


settings.load_profile(_profile_name())


# -- PostgreSQL ---------------------------------------------------------------------------

import contextlib  # noqa: E402
import secrets  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# The storage conformance suite lives in the package (supportkit.testing): rewrite its
# asserts so that a failing one shows the values it compared. Here, because it must
# run before any test module imports the suite.
pytest.register_assert_rewrite("supportkit.testing")

POSTGRES_URL = os.environ.get("SUPPORTKIT_TEST_POSTGRES_URL")
NO_POSTGRES = "SUPPORTKIT_TEST_POSTGRES_URL is not set (e.g. postgresql://postgres@127.0.0.1/test)"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server the tests may use; skips the test without one."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_schemas(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh schemas for this test run, and drops them all at the end.

    Every schema name carries this run's random tag, so concurrent runs against one
    server never see each other's data.
    """
    import psycopg

    run = secrets.token_hex(4)
    made: list[str] = []

    def fresh() -> str:
        name = f"sk_test_{run}_{len(made)}"
        made.append(name)
        return name

    yield fresh
    with contextlib.closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
        for name in made:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture(scope="session")
def postgres_schema_urls(
    postgres_url: str, postgres_schemas: Callable[[], str]
) -> Callable[[], str]:
    """Makes URLs of fresh, empty schemas of the test server (dropped at the end)."""
    separator = "&" if "?" in postgres_url else "?"
    return lambda: f"{postgres_url}{separator}schema={postgres_schemas()}"


@pytest.fixture
def postgres_schema_url(postgres_schema_urls: Callable[[], str]) -> str:
    """A URL of a fresh, empty schema of the test server."""
    return postgres_schema_urls()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for each backend: a fresh SQLite file, and a fresh schema of the
    test server (skipped when there is none)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'support.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url
