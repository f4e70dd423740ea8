"""Webhook subscriptions, recorded delivery attempts, and the signature helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from supportkit.desk import Desk
from supportkit.errors import AlreadyExists, NotFound, ValidationError
from supportkit.webhooks import EVENT_TYPES, sign, verify

from .desk_fixtures import Clock, open_desk, seed_ticket

SECRET = "whsec_0123456789abcdef-unique"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(backend_url: str, clock: Clock) -> Iterator[Desk]:
    yield from open_desk(backend_url, clock)


@pytest.fixture
def mem_desk(clock: Clock) -> Iterator[Desk]:
    """An in-memory desk, for what no storage can change (validation happens first)."""
    yield from open_desk("sqlite://", clock)


def seed_webhook(**overrides: Any) -> dict[str, Any]:
    """The seed's webhook body (with a long enough secret)."""
    body: dict[str, Any] = {
        "url": "https://your-app.com/webhooks/support",
        "events": [
            "ticket.created",
            "ticket.updated",
            "ticket.resolved",
            "ticket.escalated",
            "comment.added",
        ],
        "filters": {"customer_ids": ["cust_1234567890"], "priorities": ["high", "critical"]},
        "secret": SECRET,
        "active": True,
    }
    body.update(overrides)
    return body


def assert_no_secret(*values: object) -> None:
    for value in values:
        text = json.dumps(value, default=str)
        assert SECRET not in text
        assert "0123456789abcdef" not in text


# -- subscriptions ----------------------------------------------------------------------------


def test_create_get_list_delete(desk: Desk) -> None:
    created = desk.webhooks.create(seed_webhook())
    assert created["id"].startswith("wh_")
    assert created == {
        "id": created["id"],
        "url": "https://your-app.com/webhooks/support",
        "events": [
            "ticket.created",
            "ticket.updated",
            "ticket.resolved",
            "ticket.escalated",
            "comment.added",
        ],
        "filters": {"customer_ids": ["cust_1234567890"], "priorities": ["high", "critical"]},
        "active": True,
        "created_at": "2024-11-01T21:30:00Z",
        "secret_set": True,
    }
    other = desk.webhooks.create(seed_webhook(events=["sla.breached"], filters=None, active=False))
    assert desk.webhooks.get(created["id"]) == created
    assert desk.webhooks.list() == [created, other]
    with desk.storage.read() as tx:  # kept for the dispatcher, which signs with it
        record = tx.get_resource("webhook", created["id"])
    assert record is not None and record["secret"] == SECRET
    # Nothing a caller can read holds the secret: views, events, a ticket's history.
    desk.tickets.create(seed_ticket())
    assert_no_secret(
        created, other, desk.webhooks.list(), desk.webhooks.get(created["id"]), desk.events.list()
    )
    desk.webhooks.delete(created["id"])
    with pytest.raises(NotFound):
        desk.webhooks.get(created["id"])
    with pytest.raises(NotFound):
        desk.webhooks.delete(created["id"])
    assert desk.webhooks.list() == [other]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": None}, "url"),
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "https:///no-host"}, "url"),
        ({"url": "/relative/path"}, "url"),
        ({"url": "https://user:pw@example.com/hook"}, "url"),
        ({"url": "https://example.com/a hook"}, "url"),
        ({"url": "https://example.com:99999/"}, "url"),
        ({"url": 42}, "url"),
        ({"events": None}, "events"),
        ({"events": []}, "events"),
        ({"events": "ticket.created"}, "events"),
        ({"events": ["ticket.created", "ticket.deleted"]}, "events[1]"),
        ({"filters": {"priorities": ["urgent"]}}, "filters.priorities[0]"),
        ({"filters": {"teams": ["a"]}}, "filters.teams"),
        ({"filters": ["a"]}, "filters"),
        ({"secret": None}, "secret"),
        ({"secret": "too-short"}, "secret"),
        ({"secret": 1234567890123456789}, "secret"),
        ({"active": "yes"}, "active"),
        ({"description": "x"}, "description"),
    ],
)
def test_create_names_the_bad_field(mem_desk: Desk, overrides: dict[str, Any], field: str) -> None:
    body = seed_webhook(**overrides)
    if overrides.get("url", "") is None:
        del body["url"]
    with pytest.raises(ValidationError) as caught:
        mem_desk.webhooks.create(body)
    assert [e.field for e in caught.value.errors] == [field]
    assert_no_secret(str(caught.value), [e.message for e in caught.value.errors])
    assert mem_desk.webhooks.list() == []


def test_every_documented_event_type_may_be_subscribed(mem_desk: Desk) -> None:
    created = mem_desk.webhooks.create(seed_webhook(events=list(EVENT_TYPES)))
    assert created["events"] == list(EVENT_TYPES)
    assert {"ticket.escalated", "sla.breached", "comment.added"} <= set(EVENT_TYPES)


# -- delivery attempts ------------------------------------------------------------------------


def test_delivery_attempts_are_recorded_and_listed(desk: Desk, clock: Clock) -> None:
    hook = desk.webhooks.create(seed_webhook())["id"]
    other = desk.webhooks.create(seed_webhook())["id"]
    assert desk.webhooks.deliveries(hook) == []
    clock.advance(seconds=5)
    first = desk.webhooks.record_attempt(
        hook,
        delivery_id="dlv_1",
        event_id="evt_1",
        event_type="ticket.created",
        attempt=1,
        succeeded=False,
        status_code=503,
        error="Service Unavailable " * 100,
        duration_ms=120,
        next_attempt_at=clock.now + timedelta(seconds=30),
    )
    assert first["id"] == "dlv_1.1"
    assert first["status"] == "failed"
    assert len(first["error"]) == 1000
    assert first["attempted_at"] == "2024-11-01T21:30:05Z"
    assert first["next_attempt_at"] == "2024-11-01T21:30:35Z"
    clock.advance(seconds=30)
    second = desk.webhooks.record_attempt(
        hook,
        delivery_id="dlv_1",
        event_id="evt_1",
        event_type="ticket.created",
        attempt=2,
        succeeded=True,
        status_code=200,
    )
    desk.webhooks.record_attempt(
        other, delivery_id="dlv_2", event_id="evt_1", event_type="ticket.created", attempt=1,
        succeeded=True,
    )  # fmt: skip
    assert desk.webhooks.deliveries(hook) == [first, second]
    assert desk.webhooks.deliveries(hook, limit=1) == [first]
    with pytest.raises(AlreadyExists):
        desk.webhooks.record_attempt(
            hook, delivery_id="dlv_1", event_id="evt_1", event_type="ticket.created", attempt=2,
            succeeded=True,
        )  # fmt: skip
    with pytest.raises(NotFound):
        desk.webhooks.record_attempt(
            "wh_nope", delivery_id="dlv_3", event_id="evt_1", event_type="ticket.created",
            attempt=1, succeeded=True,
        )  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        desk.webhooks.record_attempt(
            hook, delivery_id="dlv_3", event_id="evt_1", event_type="ticket.created", attempt=0,
            succeeded=True,
        )  # fmt: skip
    assert caught.value.errors[0].field == "attempt"
    with pytest.raises(ValidationError):
        desk.webhooks.record_attempt(
            hook, delivery_id="dlv_3", event_id="evt_1", event_type="ticket.created", attempt=1,
            succeeded=True, status_code=1000,
        )  # fmt: skip
    assert_no_secret(desk.webhooks.deliveries(hook))
    # Deleting a subscription deletes its attempts, and no other's.
    desk.webhooks.delete(hook)
    with pytest.raises(NotFound):
        desk.webhooks.deliveries(hook)
    assert len(desk.webhooks.deliveries(other)) == 1
    with desk.storage.read() as tx:
        assert tx.list_documents("webhook_delivery", parent=hook) == []
    with pytest.raises(ValidationError):
        desk.webhooks.deliveries(other, limit=0)


# -- signatures -------------------------------------------------------------------------------

T = 1_730_496_600  # 2024-11-01T21:30:00Z


def test_sign_matches_the_documented_scheme() -> None:
    body = b'{"event":"ticket.escalated"}'
    expected = hmac.new(b"s3cret", b"1730496600." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body, T) == f"t=1730496600,v1={expected}"
    assert sign(b"s3cret", body, T) == sign("s3cret", body, T)
    assert verify("s3cret", body, f"t={T},v1={expected}", now=T + 299)
    assert verify("s3cret", body, f"v1={expected}, t={T}", now=T)  # order and spaces
    now = datetime.fromtimestamp(T + 10, UTC)
    assert verify("s3cret", body, sign("s3cret", body, T), now=now)


def test_verify_refuses_what_it_should() -> None:
    body = b"payload"
    good = sign("s3cret", body, T)
    mac = good.split("v1=")[1]
    assert not verify("other", body, good, now=T)
    assert not verify("s3cret", body, good, now=T + 301)
    assert not verify("s3cret", body, good, now=T - 301)  # from the future
    assert verify("s3cret", body, good, now=T + 60, tolerance=60)
    assert not verify("s3cret", body, good, now=T + 61, tolerance=60)
    for header in (
        None,
        "",
        "garbage",
        f"v1={mac}",  # no timestamp
        f"t={T}",  # no signature
        f"t={T},t={T},v1={mac}",  # two timestamps
        f"t=1e9,v1={mac}",
        f"t=-{T},v1={mac}",
        f"t=١٧٣٠٤٩٦٦٠٠,v1={mac}",  # digits, but not ASCII ones
        f"t={T},v1={mac.upper()}",
        f"t={T},v0={mac}",  # an unknown scheme alone
        f"t={T},v1=é{mac}",
        f"t={T},v1={mac}," + "x" * 5000,
    ):
        assert not verify("s3cret", body, header, now=T), header
    # Rotating secrets: any one of several v1 signatures may match.
    rotated = f"t={T},v1={'0' * 64},v1={mac},v0=ignored"
    assert verify("s3cret", body, rotated, now=T)
    with pytest.raises(ValueError):
        verify("", body, good, now=T)
    with pytest.raises(ValueError):
        verify("s3cret", body, good, now=T, tolerance=-1)
    with pytest.raises(ValueError):
        verify("s3cret", body, good, now=datetime(2024, 11, 1))
    with pytest.raises(ValueError):
        sign("s3cret", body, -1)


secrets_ = st.one_of(st.text(min_size=1, max_size=40), st.binary(min_size=1, max_size=40))
bodies = st.binary(max_size=512)
stamps = st.integers(min_value=0, max_value=2**33)


@given(secret=secrets_, body=bodies, timestamp=stamps, skew=st.integers(-300, 300))
def test_a_signature_verifies_within_the_tolerance(
    secret: str | bytes, body: bytes, timestamp: int, skew: int
) -> None:
    header = sign(secret, body, timestamp)
    assert verify(secret, body, header, now=timestamp + skew)


@given(secret=secrets_, body=bodies.filter(bool), timestamp=stamps, data=st.data())
def test_any_flipped_byte_of_the_body_fails(
    secret: str | bytes, body: bytes, timestamp: int, data: st.DataObject
) -> None:
    header = sign(secret, body, timestamp)
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(body)
    changed[index] ^= flip
    assert not verify(secret, bytes(changed), header, now=timestamp)


@given(secret=secrets_, body=bodies, timestamp=stamps, data=st.data())
def test_any_changed_character_of_the_signature_fails(
    secret: str | bytes, body: bytes, timestamp: int, data: st.DataObject
) -> None:
    header = sign(secret, body, timestamp)
    start = header.index("v1=") + 3
    index = data.draw(st.integers(start, len(header) - 1))
    replacement = data.draw(st.sampled_from("0123456789abcdef"))
    assume(header[index] != replacement)
    forged = header[:index] + replacement + header[index + 1 :]
    assert not verify(secret, body, forged, now=timestamp)


@given(
    secret=secrets_,
    body=bodies,
    timestamp=st.integers(min_value=10_000, max_value=2**33),
    skew=st.integers(301, 10**6),
    sign_of_skew=st.sampled_from([-1, 1]),
)
def test_outside_the_tolerance_fails(
    secret: str | bytes, body: bytes, timestamp: int, skew: int, sign_of_skew: int
) -> None:
    header = sign(secret, body, timestamp)
    assert not verify(secret, body, header, now=timestamp + sign_of_skew * skew)
