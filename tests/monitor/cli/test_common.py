"""The one mapping from camcanary's errors to exit codes and one-line messages, on a
command of its own and through real commands."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import main
from monitor.cli.common import load, report, run
from monitor.errors import (
    CamcanaryError,
    ConfigError,
    KillSwitchError,
    KillSwitchStateError,
    StoreError,
)
from monitor.store.accounts import AccessError


def _command(error: Exception) -> click.Command:
    """A command whose coroutine raises ``error``, run as every command runs one."""

    async def fails() -> None:
        raise error

    @click.command()
    def command() -> None:
        run(fails())

    return command


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (KillSwitchStateError("hub: nothing to approve", path="hub", state=None), 1,
         "camcanary: refused: hub: nothing to approve"),
        (KillSwitchError("unleash unreachable"), 1,
         "camcanary: the kill switch backend did not take it: unleash unreachable"),
        (ConfigError("cannot serve the web app on 127.0.0.1:80"), 2,
         "camcanary: cannot serve the web app on 127.0.0.1:80"),
        (StoreError("cannot migrate sqlite:///x"), 2, "camcanary: cannot migrate sqlite:///x"),
        (AccessError("no user 'bob'"), 2, "camcanary: no user 'bob'"),
    ],
)  # fmt: skip
def test_each_error_kind_exits_with_its_code_and_one_line(
    error: CamcanaryError, code: int, message: str
) -> None:
    result = CliRunner().invoke(_command(error), [])
    assert result.exit_code == code
    assert result.stderr == message + "\n"
    assert result.stdout == ""


def test_a_refusal_named_by_the_command_exits_1() -> None:
    @click.command()
    def command() -> None:
        report(AccessError("no user 'bob'"), (AccessError,))

    result = CliRunner().invoke(command, [])
    assert result.exit_code == 1
    assert result.stderr == "camcanary: no user 'bob'\n"


def test_an_error_outside_the_tree_is_not_turned_into_an_exit_code() -> None:
    result = CliRunner().invoke(_command(RuntimeError("a bug")), [])
    assert isinstance(result.exception, RuntimeError)


def test_load_exits_2_with_the_loaders_message(tmp_path: Path) -> None:
    @click.command()
    def command() -> None:
        load(tmp_path / "absent.yaml")

    result = CliRunner().invoke(command, [])
    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path / 'absent.yaml'}: cannot read: No such file or directory\n"


def test_config_check_of_a_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config", "check", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "cannot read" in result.stderr


def test_a_store_that_cannot_be_opened_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "camcanary.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "deployment": {"secret": "exit code test secret"},
                "canaries": [{"name": "lobby", "camera_id": "cam-lobby", "token": "t"}],
                "paths": [
                    {"name": "app", "kind": "snapshot", "url": "http://cloud.test/{camera_id}"}
                ],
                "store": {"url": f"sqlite:///{tmp_path / 'absent' / 'dir' / 'db'}"},
            }
        )
    )
    result = CliRunner().invoke(main, ["users", "list", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.startswith("camcanary: cannot migrate sqlite:///")
