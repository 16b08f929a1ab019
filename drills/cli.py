"""``camcanary drill SCENARIO``: run a fire drill against the testbed and judge it.

Exit codes: 0 the findings match the scenario; 1 they do not; 2 usage error (an
unknown scenario, path or profile: the message lists the valid ones).
"""

from __future__ import annotations

import asyncio
import json
import sys

import click

from monitor.errors import CamcanaryError
from testbed import BUGS


def _scenarios() -> str:
    lines = ["Scenarios (the testbed's bugs):"]
    for bug in BUGS.values():
        where = "no bug" if bug.path is None else f"{bug.symptom} on path {bug.path}"
        lines.append(f"  {bug.name:<14} {where}: {bug.incident}")
    return "\n\n".join(["\b\n" + "\n".join(lines)])


def _names(raw: str | None) -> tuple[str, ...]:
    return () if raw is None else tuple(n.strip() for n in raw.split(",") if n.strip())


@click.command("drill", epilog=_scenarios())
@click.argument("scenario")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as one JSON line on stdout."
)
@click.option("--paths", default=None, help="Only these testbed paths (comma-separated).")
@click.option("--profiles", default=None, help="Only these network profiles (comma-separated).")
@click.option(
    "--canaries",
    type=click.IntRange(2, 4),
    default=2,
    show_default=True,
    help="Tenants, each with a canary camera (every cell is probed as each of them).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=48,
    show_default=True,
    help="Probes in flight at most.",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds from the deployment within which the finding must come.",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    help="SQLAlchemy URL to keep the drill's history (default: a temporary SQLite file).",
)
def drill_command(
    scenario: str,
    as_json: bool,
    paths: str | None,
    profiles: str | None,
    canaries: int,
    concurrency: int,
    budget: float,
    db_url: str | None,
) -> None:
    """Fire drill: deploy SCENARIO's bug on a local camera cloud, probe every path under
    every network profile, and check that the monitor finds exactly that bug.

    Progress goes to stderr; the summary (or with --json, one JSON object) to stdout.
    """
    from drills.report import render_summary
    from drills.runner import DrillOptions, run_drill

    if scenario not in BUGS:
        raise click.UsageError(f"unknown scenario {scenario!r}; valid scenarios: {', '.join(BUGS)}")
    try:
        options = DrillOptions(
            scenario=scenario,
            paths=_names(paths),
            profiles=_names(profiles),
            canaries=canaries,
            concurrency=concurrency,
            budget_s=budget,
            db_url=db_url,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        report = asyncio.run(run_drill(options, sys.stderr))
    except CamcanaryError as exc:  # the drill's own configuration did not validate
        click.echo(f"camcanary drill: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report))
    else:
        render_summary(report, sys.stdout)
    sys.exit(0 if report["passed"] else 1)
