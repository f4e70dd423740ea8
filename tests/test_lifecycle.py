import pytest

from supportkit.errors import InvalidTransition, SupportkitError, ValidationError
from supportkit.lifecycle import DEFAULT_LIFECYCLE, FOLLOW_UP, STATUSES, Lifecycle

# The design's table, written out independently of the implementation.
DESIGN = {
    "open": {"in_progress", "waiting_on_customer", "on_hold", "escalated", "resolved", "closed"},
    "in_progress": {"waiting_on_customer", "on_hold", "escalated", "resolved"},
    "waiting_on_customer": {"in_progress", "escalated", "resolved", "closed"},
    "on_hold": {"in_progress", "escalated", "resolved"},
    "escalated": {"in_progress", "waiting_on_customer", "on_hold", "resolved"},
    "resolved": {"closed", "open"},
    "closed": set(),
}
PAIRS = [(a, b) for a in STATUSES for b in STATUSES if a != b]


@pytest.mark.parametrize(("current", "requested"), PAIRS)
def test_every_pair_follows_the_design_table(current: str, requested: str) -> None:
    allowed = requested in DESIGN[current]
    assert DEFAULT_LIFECYCLE.can_move(current, requested) is allowed
    if allowed:
        DEFAULT_LIFECYCLE.check(current, requested)
    else:
        with pytest.raises(InvalidTransition) as info:
            DEFAULT_LIFECYCLE.check(current, requested)
        assert set(info.value.allowed) == DESIGN[current]
        for name in DESIGN[current]:
            assert name in str(info.value)


def test_invalid_transition_is_a_value_error_and_a_supportkit_error() -> None:
    with pytest.raises(ValueError):
        DEFAULT_LIFECYCLE.check("closed", "open")
    with pytest.raises(SupportkitError, match="no status change is allowed"):
        DEFAULT_LIFECYCLE.check("closed", "open")


def test_staying_put_is_not_a_transition() -> None:
    for status in STATUSES:
        DEFAULT_LIFECYCLE.check(status, status)


def test_unknown_status_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        DEFAULT_LIFECYCLE.check("open", "pending")
    assert info.value.errors[0].field == "status"
    with pytest.raises(ValidationError):
        DEFAULT_LIFECYCLE.allowed("pending")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("waiting_on_customer", "in_progress"),
        ("resolved", "open"),
        ("closed", FOLLOW_UP),
        ("open", None),
        ("in_progress", None),
        ("escalated", None),
        ("on_hold", None),
    ],
)
def test_customer_reply_rules(status: str, outcome: str | None) -> None:
    assert DEFAULT_LIFECYCLE.on_customer_reply(status) == outcome


def test_roles_of_statuses() -> None:
    assert DEFAULT_LIFECYCLE.is_paused("waiting_on_customer")
    assert DEFAULT_LIFECYCLE.is_paused("on_hold")
    assert not DEFAULT_LIFECYCLE.is_paused("in_progress")
    assert DEFAULT_LIFECYCLE.is_stopped("resolved") and DEFAULT_LIFECYCLE.is_stopped("closed")
    assert not DEFAULT_LIFECYCLE.can_escalate("resolved")
    assert DEFAULT_LIFECYCLE.can_escalate("waiting_on_customer")


def test_a_host_supplies_its_own_table() -> None:
    custom = Lifecycle.from_dict(
        {
            "transitions": {
                "new": ["triage"],
                "triage": ["escalated", "done"],
                "escalated": ["done"],
                "done": [],
            },
            "initial": "new",
            "pause_statuses": [],
            "stop_statuses": ["done"],
            "customer_reply": {},
            "follow_up_statuses": ["done"],
        }
    )
    assert custom.initial == "new"
    custom.check("new", "triage")
    with pytest.raises(InvalidTransition, match="allowed: triage"):
        custom.check("new", "done")
    assert custom.on_customer_reply("done") == FOLLOW_UP
    assert custom.on_customer_reply("triage") is None


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"transitions": {"a": ["b"]}}, "transitions.a"),
        ({"transitions": {"a": []}, "initial": "zzz"}, "initial"),
        ({"transitions": "nope"}, "transitions"),
        ({"transitions": {"a": "b"}}, "transitions.a"),
        ({"transitions": {"open": []}, "bogus": 1}, "bogus"),
    ],
)
def test_bad_tables_name_the_field(definition: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Lifecycle.from_dict(definition)
    assert field in [e.field for e in info.value.errors]
