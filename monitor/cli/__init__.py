"""``camcanary``: render and classify canary frames, check config, run the service, drill.

Exit codes: 0 success; 1 the job's outcome is bad (a leak in ``classify``, a failed
drill); 2 usage or configuration error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from canaries import CanaryError, Codebook, Reader, render
from drills.cli import drill_command
from monitor.cli.access import tokens_group, users_group
from monitor.cli.killswitch import killswitch_group
from monitor.cli.serve import serve_command
from monitor.config import load_config
from monitor.errors import CamcanaryError, ConfigError
from monitor.judge import classify
from monitor.verdict import Judgement, Verdict


class _Time(click.ParamType):  # type: ignore[type-arg]  # generic in click>=8.2
    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time such as 2026-11-22T10:00:00Z", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Size(click.ParamType):  # type: ignore[type-arg]  # generic in click>=8.2
    name = "WxH"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            width, height = (int(part) for part in str(value).lower().split("x"))
        except ValueError:
            self.fail(f"{value!r} is not a size such as 1280x720", param, ctx)
        return width, height


secret_option = click.option(
    "--secret",
    envvar="CAMCANARY_SECRET",
    required=True,
    help="Deployment secret that keys the codewords (or $CAMCANARY_SECRET).",
)


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """camcanary: a continuous privacy monitor for camera platforms."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command("render")
@secret_option
@click.option("--canary", required=True, help="Canary name.")
@click.option("--at", type=_Time(), default=None, help="Time the frame shows (default: now).")
@click.option("--size", type=_Size(), default="1280x720", show_default=True)
@click.option(
    "--quality",
    type=click.IntRange(1, 100),
    default=90,
    show_default=True,
    help="JPEG quality, for .jpg output.",
)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path))
def render_command(
    secret: str, canary: str, at: datetime | None, size: tuple[int, int], quality: int, output: Path
) -> None:
    """Render CANARY's frame to a PNG or JPEG file."""
    suffix = output.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise click.UsageError(f"--output must end in .png, .jpg or .jpeg, not {suffix!r}")
    try:
        image = render(Codebook(secret.encode()), canary, at, size)
    except CanaryError as exc:
        raise click.UsageError(str(exc)) from exc
    if suffix == ".png":
        image.save(output, "PNG")
    else:
        image.convert("RGB").save(output, "JPEG", quality=quality)
    click.echo(f"wrote {output} ({size[0]}x{size[1]}, canary {canary})", err=True)


@main.command("classify")
@secret_option
@click.option("--fleet", required=True, help="Comma-separated canary names to decode against.")
@click.option("--expect", required=True, help="The canary whose frame each file should be.")
@click.option("--now", type=_Time(), default=None, help="Reference time (default: now).")
@click.option(
    "--stale-after",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds after which an own frame is own_stale.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def classify_command(
    secret: str,
    fleet: str,
    expect: str,
    now: datetime | None,
    stale_after: float,
    as_json: bool,
    files: tuple[Path, ...],
) -> None:
    """Classify image FILES; exits 1 if any is a leak."""
    names = [name.strip() for name in fleet.split(",") if name.strip()]
    if expect not in names:
        names.append(expect)
    reader = Reader(Codebook(secret.encode()), names)
    moment = now or datetime.now(UTC)
    leaked = False
    for path in files:
        record = _classify_one(reader, path, expect, moment, stale_after)
        leaked |= Verdict(record["verdict"]).is_leak
        if as_json:
            click.echo(json.dumps(record))
        else:
            age = "" if record["age_s"] is None else f" age {record['age_s']:.0f}s"
            click.echo(
                f"{path}: {record['verdict']} canary={record['canary']} "
                f"distance={record['distance']}{age} confidence={record['confidence']:.2f}  "
                f"{record['detail']}"
            )
    sys.exit(1 if leaked else 0)


def _classify_one(
    reader: Reader, path: Path, expect: str, now: datetime, stale_after: float
) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        judgement = Judgement(Verdict.ERROR, None, None, None, f"cannot read: {exc.strerror}")
    else:
        judgement = classify(reader, data, expect, now, stale_after)
    return {
        "file": str(path),
        "verdict": str(judgement.verdict),
        "canary": judgement.canary,
        "distance": judgement.distance,
        "age_s": None if judgement.age_s is None else round(judgement.age_s, 1),
        "confidence": judgement.confidence,
        "frame_time": None if judgement.frame_at is None else judgement.frame_at.isoformat(),
        "detail": judgement.detail,
    }


@main.group("config")
def config_group() -> None:
    """Configuration tools."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE; exits 2 with one line per problem."""
    try:
        config = load_config(file)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    probes = len(config.canaries) * len(config.paths) * len(config.profiles)
    click.echo(
        f"{file}: ok ({len(config.canaries)} canaries, {len(config.paths)} paths, "
        f"{len(config.profiles)} profiles: {probes} probes)"
    )


main.add_command(killswitch_group)
main.add_command(serve_command)
main.add_command(users_group)
main.add_command(tokens_group)
main.add_command(drill_command)


@main.command("probe")
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
    from monitor.service import Monitor

    config = _load(config_file)

    async def once() -> list[Any]:
        monitor = Monitor(config)
        await monitor.prepare()
        try:
            results = []
            for _ in range(rounds):
                results += await monitor.run_round()
            return results
        finally:
            await monitor.stop()

    results = _run(once())
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
    sys.exit(1 if any(result.verdict.is_leak for result in results) else 0)


@main.command("demo")
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
    summary = _run(run_demo(options, out))
    ok = summary_ok(summary)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        _print_summary(summary, ok)
    sys.exit(0 if ok else 1)


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


def _load(path: Path) -> Any:
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def _run(coroutine: Any) -> Any:
    try:
        return asyncio.run(coroutine)
    except CamcanaryError as exc:
        click.echo(f"camcanary: {exc}", err=True)
        sys.exit(2)
