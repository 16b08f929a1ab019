"""``camcanary``: render and classify canary frames, check config, run the service, drill.

Every command lives in its own module, named in ``COMMANDS`` and imported only when
that command runs (click's lazily loading group): ``camcanary --help`` and
``config check`` must not pay for the store, the incident engine or the browsers.
Exit codes are the same for every command (see ``monitor.cli.common``): 0 success;
1 the job's outcome is bad (a leak in ``classify``, a failed drill, a refused change);
2 usage or configuration error.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import click

from monitor.cli.common import resolve


class Lazy(NamedTuple):
    """Where a command is (``"package.module:attribute"``) and its one-line summary,
    which ``--help`` lists without importing the command (a test keeps the two equal)."""

    target: str
    summary: str


# The only list of commands. drills/ may import the testbed, monitor may not: its two
# commands are named here as strings, never imported by monitor.
COMMANDS: dict[str, Lazy] = {
    "classify": Lazy(
        "monitor.cli.frames:classify_command", "Classify image FILES; exits 1 if any is a leak."
    ),
    "config": Lazy("monitor.cli.config_cmd:config_group", "Configuration tools."),
    "demo": Lazy(
        "drills.cli:demo_command",
        "Fire drill: reproduce the 2020 smart-display leak on a local camera cloud and catch it.",
    ),
    "drill": Lazy(
        "drills.cli:drill_command",
        "Fire drill: deploy SCENARIO's bug on a local camera cloud, probe every path under "
        "every network profile, and check that the monitor finds exactly that bug.",
    ),
    "killswitch": Lazy(
        "monitor.cli.killswitch:killswitch_group",
        "See and change the per-path kill switches (every change is audited).",
    ),
    "migrate": Lazy(
        "monitor.cli.migrate:migrate_command",
        "Bring the store's schema to this release (as a role that may change it).",
    ),
    "probe": Lazy(
        "monitor.cli.probe:probe_command",
        "Run every probe of the matrix, record the results, print them.",
    ),
    "render": Lazy(
        "monitor.cli.frames:render_command", "Render CANARY's frame to a PNG or JPEG file."
    ),
    "serve": Lazy(
        "monitor.cli.serve:serve_command",
        "Run the monitor and its web app (dashboard, API, /metrics) until stopped.",
    ),
    "tokens": Lazy("monitor.cli.access:tokens_group", "Issue, list and revoke API tokens."),
    "users": Lazy(
        "monitor.cli.access:users_group",
        "Create and list the people and CI systems that use the web app and API.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they run (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command = resolve(entry.target)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing loads every command for its short help; stand-ins that
        # carry the registry's summary print the same lines without importing any.
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [
            (name, click.Command(name, help=COMMANDS[name].summary).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """camcanary: a continuous privacy monitor for camera platforms."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
