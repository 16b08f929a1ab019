"""``camcanary users`` / ``camcanary tokens`` through the CLI runner, on a real SQLite
store: a token is printed once, works, and stops working when revoked."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from monitor.cli import main
from monitor.store import Store
from monitor.store.accounts import Accounts


def _config(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'camcanary.db'}"
    config = {
        "deployment": {"secret": "users cli secret"},
        "canaries": [{"name": "lobby", "camera_id": "cam-lobby", "token": "t"}],
        "paths": [{"name": "app", "kind": "snapshot", "url": "http://cloud.test/{camera_id}"}],
        "store": {"url": url},
    }
    path = tmp_path / "camcanary.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, url


def test_users_and_tokens_lifecycle(tmp_path: Path) -> None:
    config, url = _config(tmp_path)
    runner = CliRunner()
    added = runner.invoke(
        main, ["users", "add", "vera", "--role", "viewer", "--config", str(config)]
    )
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert len(token) >= 43
    ci = runner.invoke(main, ["users", "add", "ci", "--role", "publisher", "--config", str(config)])
    assert ci.exit_code == 0
    second = runner.invoke(
        main, ["tokens", "add", "vera", "--label", "laptop", "--config", str(config)]
    )
    assert second.exit_code == 0
    store = Store(url)
    try:
        accounts = Accounts(store.engine)
        found = accounts.by_token(token)
        assert found is not None
        assert (found.name, found.role) == ("vera", "viewer")
        listed = runner.invoke(main, ["users", "list", "--config", str(config)])
        assert listed.stdout.splitlines() == [
            "ci\tpublisher\t1 live token(s)",
            "vera\tviewer\t2 live token(s)",
        ]
        tokens = runner.invoke(main, ["tokens", "list", "--config", str(config)]).stdout
        assert token not in tokens  # never shown again
        first_id = tokens.splitlines()[0].split("\t")[0]
        revoked = runner.invoke(main, ["tokens", "revoke", first_id, "--config", str(config)])
        assert revoked.exit_code == 0
        assert accounts.by_token(token) is None
        assert accounts.by_token(second.stdout.strip()) is not None
        again = runner.invoke(main, ["tokens", "revoke", first_id, "--config", str(config)])
        assert again.exit_code == 1
    finally:
        store.close()


def test_users_add_refuses_duplicates_bad_names_and_roles(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    runner = CliRunner()
    args = ["--config", str(config)]
    assert runner.invoke(main, ["users", "add", "olga", "--role", "operator", *args]).exit_code == 0
    duplicate = runner.invoke(main, ["users", "add", "olga", "--role", "viewer", *args])
    assert duplicate.exit_code == 1
    assert "exists already" in duplicate.output
    assert runner.invoke(main, ["users", "add", "Olga!", "--role", "viewer", *args]).exit_code == 2
    assert runner.invoke(main, ["users", "add", "x", "--role", "root", *args]).exit_code == 2
    assert runner.invoke(main, ["tokens", "add", "nobody", *args]).exit_code == 1
