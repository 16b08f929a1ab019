"""The fire drill end to end, shortened: testbed, monitor, proxy, store, kill switch."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from monitor.cli import main


@pytest.mark.slow
def test_demo_catches_the_hub_leak_under_3g_and_trips_only_the_hub(tmp_path: object) -> None:
    db = f"sqlite:///{tmp_path}/drill.db"
    result = CliRunner().invoke(
        main, ["demo", "--json", "--baseline", "4", "--timeout", "30", "--db", db]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["leak_detected"] is True
    assert summary["leaks_by_path"]["app"] == 0
    assert summary["leaks_by_path"]["hub"] >= 1
    assert summary["kill_switch"] == {"app": "armed", "hub": "tripped"}
    assert summary["leak_profiles"] == ["3g"]
    assert summary["baseline_leaks"] == 0
    first = summary["first_leak"]
    assert (first["path"], first["profile"], first["verdict"]) == ("hub", "3g", "foreign_canary")
    assert first["source_canary"] in {"lobby", "nursery", "garage"}
    assert first["source_canary"] != first["canary"]
    assert 0 < summary["seconds_to_detect"] < 30
    # Narration goes to stderr so stdout stays one machine-readable line.
    assert "deploying the hub 'cache update'" in result.stderr
    assert "kill switch TRIPPED for path hub" in result.stderr


@pytest.mark.slow
def test_demo_history_is_kept_in_the_given_database(tmp_path: object) -> None:
    import sqlalchemy as sa

    db = f"sqlite:///{tmp_path}/kept.db"
    result = CliRunner().invoke(
        main, ["demo", "--json", "--baseline", "2", "--timeout", "30", "--db", db]
    )
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            probes = conn.execute(sa.text("select count(*) from probe_results")).scalar_one()
            incidents = conn.execute(sa.text("select path, status, hits from incidents")).all()
            switches = dict(conn.execute(sa.text("select path, state from kill_switches")).all())
    finally:
        engine.dispose()
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert probes == summary["probes"] > 0
    assert [(path, status) for path, status, _ in incidents] == [("hub", "open")]
    assert incidents[0][2] == summary["leaks_by_path"]["hub"]
    assert switches == {"app": "armed", "hub": "tripped"}
