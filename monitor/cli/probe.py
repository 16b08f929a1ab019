"""``camcanary probe --config FILE``: run the probe matrix once (or ``--rounds`` times),
record the results and print them; exits 1 if any probe saw a leak."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.common import BAD_OUTCOME, OK, load, run

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.results import ProbeResult


@click.command("probe")
@click.option(
    "--config", "config_file", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per probe.")
@click.option(
    "--rounds",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="Run the matrix this many times; clients estimate their network from "
    "earlier rounds, so slow-client-only bugs need at least 2.",
)
def probe_command(config_file: Path, as_json: bool, rounds: int) -> None:
    """Run every probe of the matrix, record the results, print them."""
    results = run(_rounds(load(config_file), rounds))
    for result in results:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "canary": result.canary,
                        "path": result.path,
                        "profile": result.profile,
                        "verdict": str(result.verdict),
                        "source_canary": result.source_canary,
                        "distance": result.distance,
                        "duration_s": round(result.duration_s, 3),
                        "detail": result.detail,
                    }
                )
            )
        else:
            click.echo(
                f"{result.path}/{result.profile}/{result.canary}: {result.verdict} "
                f"({result.duration_s:.2f}s) {result.detail}"
            )
    sys.exit(BAD_OUTCOME if any(result.verdict.is_leak for result in results) else OK)


async def _rounds(config: Config, rounds: int) -> list[ProbeResult]:
    from monitor.service import Monitor

    monitor = Monitor(config)
    await monitor.prepare()
    try:
        results: list[ProbeResult] = []
        for _ in range(rounds):
            results += await monitor.run_round()
        return results
    finally:
        await monitor.stop()
