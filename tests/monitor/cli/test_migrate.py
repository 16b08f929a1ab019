"""``camcanary migrate``: migrate as the schema's owner, check as anyone; plain messages
and exit codes, on a real SQLite file and a real PostgreSQL schema."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from monitor.cli import main
from monitor.store import Store
from tests import fleet


def config_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "camcanary.yaml"
    config = {
        "deployment": {"secret": "cli migrate secret"},
        "canaries": [{"name": "lobby", "camera_id": "cam-lobby", "token": "t"}],
        "paths": [{"name": "app", "kind": "snapshot", "url": "http://cloud.test/{camera_id}"}],
        "store": {"url": url},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def migrate(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["migrate", "--config", str(config), *args])


def test_migrate_brings_an_empty_or_older_schema_to_head_and_check_says_where_it_is(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'camcanary.db'}"
    config = config_file(tmp_path, url)
    store = Store(url)
    try:
        head = store.revisions()[1]

        behind = migrate(config, "--check")
        assert behind.exit_code == 1
        assert f"at revision (empty), this release needs {head}" in behind.output
        assert store.revisions()[0] is None  # --check changed nothing

        done = migrate(config)
        assert done.exit_code == 0, done.output
        assert f"migrated from (empty) to {head}" in done.output
        assert store.revisions() == (head, head)

        fleet.alembic(store, "downgrade", "-1")
        older = store.revisions()[0]
        assert older not in (None, head)
        again = migrate(config)
        assert f"migrated from {older} to {head}" in again.output
        assert migrate(config, "--check").exit_code == 0
        assert "nothing to do" in migrate(config).output
    finally:
        store.close()


def test_migrate_against_an_unreachable_database_is_one_clear_line_and_exit_2(
    tmp_path: Path,
) -> None:
    config = config_file(tmp_path, "postgresql+psycopg://app:secret@127.0.0.1:9/camcanary")
    result = migrate(config)
    assert result.exit_code == 2
    assert "cannot read the schema of" in result.output
    assert "secret" not in result.output
    assert "Traceback" not in result.output


def test_migrate_on_postgres_reaches_the_same_head(tmp_path: Path, postgres_url: str) -> None:
    config = config_file(tmp_path, postgres_url)
    result = migrate(config)
    assert result.exit_code == 0, result.output
    assert migrate(config, "--check").exit_code == 0
