from pathlib import Path

import pytest
from click.testing import CliRunner

from supportkit.cli import main
from supportkit.desk import Desk


def test_demo_tells_the_lifecycle_and_sla_story(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    result = CliRunner().invoke(main, ["demo", "--database", str(database)], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "network_escalation_team" in out
    assert "Priority upgraded to critical" in out
    # Business-calendar due dates skip Thanksgiving and the night: Wed 16:30 + 1 h.
    assert "Fri 29 Nov 09:30" in out
    assert "ticket.reopened" in out
    assert "Follow-up: Slow downloads" in out
    # The tour really went through a desk on that file.
    with Desk.open(f"sqlite:///{database}") as desk:
        tickets = desk.tickets.search(sort={"field": "number", "order": "asc"})
        assert [t.status for t in tickets] == ["resolved", "escalated", "closed", "open"]
        assert tickets.items[1].sla is not None
        assert tickets.items[1].sla.calendar_id == "us_pacific"
    # A second run starts afresh.
    again = CliRunner().invoke(main, ["demo", "--database", str(database)])
    assert again.exit_code == 0
    with Desk.open(f"sqlite:///{database}") as desk:
        assert desk.tickets.search().total == 4


def test_init_installs_the_seed_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'support.db'}"
    runner = CliRunner()
    first = runner.invoke(main, ["init", "--database", url])
    assert first.exit_code == 0, first.output
    assert "added categories: network, voice" in first.output
    second = runner.invoke(main, ["init", "--database", url])
    assert "kept categories (already there): network, voice" in second.output
    with Desk.open(url) as desk:
        assert [c.id for c in desk.categories.list()] == ["network", "voice"]
        assert len(desk.routing_rules.list()) == 1


def test_init_reads_a_toml_config(tmp_path: Path) -> None:
    config = tmp_path / "support.toml"
    config.write_text(
        """
[[calendars]]
id = "emea"
timezone = "Europe/London"
hours = { mon = [["09:00", "17:30"]], fri = [["09:00", "16:00"]] }

[[categories]]
id = "billing"
name = "Billing"
sla = { response_time = "4 hours", resolution_time = "2 days", calendar = "emea" }

[[sla_policies]]
conditions = { priority = ["critical"] }
response_time = "1h"
"""
    )
    url = f"sqlite:///{tmp_path / 'support.db'}"
    result = CliRunner().invoke(
        main, ["init", "--database", url], env={"SUPPORTKIT_CONFIG": str(config)}
    )
    assert result.exit_code == 0, result.output
    with Desk.open(url) as desk:
        assert desk.categories.get("billing").sla.calendar == "emea"
        assert desk.sla_policies.list()[0].id.startswith("sla_")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[planets]]\nid = 'x'\n", "unknown section"),
        ("not toml = = =", "not valid TOML"),
        ("[[categories]]\nid = 'x'\nname = 'X'\n", "categories[0].sla"),
    ],
)
def test_init_reports_bad_configs_clearly(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = CliRunner().invoke(
        main, ["init", "--database", f"sqlite:///{tmp_path / 'x.db'}", "--config", str(config)]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_tick_runs_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'support.db'}"
    runner = CliRunner()
    runner.invoke(main, ["init", "--database", url])
    result = runner.invoke(main, ["tick", "--database", url])
    assert result.exit_code == 0, result.output
    assert "0 tickets, 0 timers fired" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "supportkit" in result.output
