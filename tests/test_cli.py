from click.testing import CliRunner

from supportkit.cli import main


def test_demo_tells_the_lifecycle_and_sla_story() -> None:
    result = CliRunner().invoke(main, ["demo"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    out = result.output
    # Routed by the seed's rule, escalated by a priority upgrade.
    assert "network_escalation_team" in out
    assert "Priority upgraded to critical" in out
    # Business-calendar due dates skip Thanksgiving and the night: Wed 16:30 + 1 h.
    assert "Fri 29 Nov 09:30" in out
    assert "waiting_on_customer → in_progress" in out
    assert "resolved → open" in out
    assert "breached" in out and "met" in out
    assert "cannot move a ticket from 'closed'" in out


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "supportkit" in result.output
