"""``camcanary drill SCENARIO`` and ``camcanary demo``: fire drills against the testbed,
judged. They live here, not in monitor.cli, because they import the testbed; the
root command names them as strings and imports this module only when one runs.

Exit codes: 0 the findings match the scenario; 1 they do not; 2 usage error (an
unknown scenario, path or profile: the message lists the valid ones).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from monitor.cli.common import BAD_OUTCOME, OK, run
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
    # a CamcanaryError here: the drill's own configuration did not validate
    report = run(run_drill(options, sys.stderr), prefix="camcanary drill")
    if as_json:
        click.echo(json.dumps(report))
    else:
        render_summary(report, sys.stdout)
    sys.exit(OK if report["passed"] else BAD_OUTCOME)


@click.command("demo")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Narrate on stderr; print the summary as one JSON line on stdout.",
)
@click.option(
    "--baseline",
    type=click.FloatRange(min=0),
    default=8.0,
    show_default=True,
    help="Seconds of probing before the faulty cache update.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=45.0,
    show_default=True,
    help="Seconds to wait for the leak after the update.",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    help="SQLAlchemy URL to keep the drill's history (default: a temporary SQLite file).",
)
def demo_command(as_json: bool, baseline: float, timeout: float, db_url: str | None) -> None:
    """Fire drill: reproduce the 2020 smart-display leak on a local camera cloud and catch it."""
    from drills.demo import DemoOptions, run_demo, summary_ok

    out = sys.stderr if as_json else sys.stdout
    options = DemoOptions(baseline_s=baseline, timeout_s=timeout, db_url=db_url)
    summary = run(run_demo(options, out))
    ok = summary_ok(summary)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        _print_summary(summary, ok)
    sys.exit(OK if ok else BAD_OUTCOME)


def _print_summary(summary: dict[str, Any], ok: bool) -> None:
    first = summary["first_leak"]
    if first:
        click.echo(
            f"\nLEAK caught on {first['path']}/{first['profile']}: {first['canary']} received "
            f"{first['source_canary'] or 'an unknown'} canary's still ({first['verdict']}), "
            f"{summary['seconds_to_detect']} s after the cache update."
        )
    click.echo(
        f"leaks by path: {summary['leaks_by_path']}; kill switches: {summary['kill_switch']}"
    )
    click.echo("drill PASSED" if ok else "drill FAILED: the leak was not caught as expected")
