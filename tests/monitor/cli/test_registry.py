"""The root command: every command is in the registry, ``--help`` lists them without
importing them, and the fast commands never load the service's heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli import COMMANDS, main
from monitor.cli.common import resolve

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "camcanary.yaml"
# What the store, the service, the web app, the browsers, Slack and leak confirmation
# load: none of it belongs in --help, config check or render.
HEAVY = (
    "sqlalchemy",
    "aiohttp",
    "av",
    "playwright",
    "httpx",
    "apscheduler",
    "slack_sdk",
    "skimage",
    "scipy",
)
# Runs one CLI invocation in a fresh interpreter and prints which HEAVY modules it
# loaded. ``before`` runs first: the modules it loads are reported separately.
PROBE = """
import json, sys
heavy = {heavy!r}
{before}
preloaded = sorted(h for h in heavy if h in sys.modules)
from monitor.cli import main
try:
    main({args!r}, prog_name="camcanary")
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "preloaded": preloaded,
                   "loaded": sorted(h for h in heavy if h in sys.modules)}}))
"""


def _loaded(
    args: list[str], before: str = "", env: dict[str, str] | None = None
) -> dict[str, object]:
    script = PROBE.format(heavy=HEAVY, before=before, args=args)
    done = subprocess.run(  # noqa: S603  # this interpreter, our own CLI
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_every_registry_entry_resolves_to_a_click_command_of_its_name() -> None:
    for name, entry in COMMANDS.items():
        command = resolve(entry.target)
        assert isinstance(command, click.Command), entry.target
        assert command.name == name


def test_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = result.stdout.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed] == sorted(COMMANDS)


def test_lazy_help_is_what_click_prints_with_every_command_loaded() -> None:
    # The registry's summaries must stay the commands' own first sentences.
    eager = click.Group("camcanary", params=main.params, help=main.help)
    for entry in COMMANDS.values():
        eager.add_command(resolve(entry.target))
    lazy = CliRunner().invoke(main, ["--help"], prog_name="camcanary")
    loaded = CliRunner().invoke(eager, ["--help"], prog_name="camcanary")
    assert lazy.stdout == loaded.stdout
    for name, entry in COMMANDS.items():
        assert resolve(entry.target).get_short_help_str(10_000) == entry.summary, name


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["nosuch"])
    assert result.exit_code == 2
    assert "No such command 'nosuch'" in result.stderr


def test_help_loads_no_heavy_module() -> None:
    report = _loaded(["--help"])
    assert report["code"] == 0
    assert report["loaded"] == []


def test_render_loads_no_heavy_module(tmp_path: Path) -> None:
    out = tmp_path / "frame.png"
    args = ["render", "--secret", "s", "--canary", "a", "--size", "64x64", "-o", str(out)]
    report = _loaded(args)
    assert report["code"] == 0
    assert out.exists()
    assert report["loaded"] == []


def test_config_check_command_module_loads_no_heavy_module() -> None:
    report = _loaded(["config", "--help"])
    assert report["code"] == 0
    assert report["loaded"] == []


@pytest.mark.parametrize("valid", [True, False], ids=["valid", "missing env"])
def test_config_check_loads_no_heavy_module(valid: bool) -> None:
    # monitor.config imports no implementation package, so validating a file is light.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    if valid:
        env |= {
            "CAMCANARY_SECRET": "a deployment secret",
            "CANARY_LOBBY_TOKEN": "t1",
            "CANARY_NURSERY_TOKEN": "t2",
            "CAMCANARY_KILLSWITCH_SECRET": "a kill switch secret",
        }
    report = _loaded(["config", "check", str(EXAMPLE)], env=env)
    assert report["code"] == (0 if valid else 2)
    assert report["loaded"] == []
