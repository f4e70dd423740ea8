"""Verified API keys are remembered for a few seconds; revocation is honoured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from supportkit.api import Request, SupportApi, auth, create_key, revoke_key
from supportkit.desk import Desk

from .desk_fixtures import Clock, seed


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'desk.db'}"


def status(api: SupportApi, token: str) -> int:
    request = Request("GET", "/v1/support/tickets", headers={"Authorization": f"Bearer {token}"})
    return api.handle(request).status


def test_a_key_revoked_by_another_process_stops_working_within_the_bound(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    with seed(Desk.open(url, clock=Clock(), load_entrypoints=False)) as desk:
        other = Desk.open(url, clock=Clock(), load_entrypoints=False)  # "another process"
        try:
            api = SupportApi(desk)
            key = create_key(desk, role="admin")
            assert status(api, key.token) == 200
            # The other desk deletes the key's record behind this one's back.
            with other.storage.write() as tx:
                assert tx.delete_resource("api_key", key.id)
            now[0] += auth.VERIFIED_KEY_SECONDS - 0.5
            assert status(api, key.token) == 200  # still remembered
            now[0] += 1.0
            assert status(api, key.token) == 401  # looked up again: gone
        finally:
            other.close()


def test_revoke_key_is_immediate_in_its_process_and_wrong_secrets_are_never_remembered(
    url: str,
) -> None:
    with seed(Desk.open(url, clock=Clock(), load_entrypoints=False)) as desk:
        api = SupportApi(desk)
        key = create_key(desk, role="agent")
        assert status(api, key.token) == 200
        wrong = key.token[:-4] + ("AAAA" if not key.token.endswith("AAAA") else "BBBB")
        assert status(api, wrong) == 401
        assert status(api, key.token) == 200
        assert revoke_key(desk, key.id)
        assert status(api, key.token) == 401


def test_forget_verified_keys(url: str) -> None:
    with seed(Desk.open(url, clock=Clock(), load_entrypoints=False)) as desk:
        api = SupportApi(desk)
        key = create_key(desk, role="admin")
        assert status(api, key.token) == 200
        with desk.storage.write() as tx:
            tx.delete_resource("api_key", key.id)
        auth.forget_verified_keys()
        assert status(api, key.token) == 401
