"""``camcanary config check FILE``: validate a configuration and exit.

It loads the configuration models and nothing of the service: checking a file in CI
or a pre-commit hook should not pay for the store, the web app or the browsers.
"""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.common import load


@click.group("config")
def config_group() -> None:
    """Configuration tools."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE; exits 2 with one line per problem."""
    config = load(file)
    probes = len(config.canaries) * len(config.paths) * len(config.profiles)
    click.echo(
        f"{file}: ok ({len(config.canaries)} canaries, {len(config.paths)} paths, "
        f"{len(config.profiles)} profiles: {probes} probes)"
    )
