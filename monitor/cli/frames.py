"""``camcanary render`` and ``camcanary classify``: make a canary frame, read frames back.

``render`` must start fast (it is what an engineer runs by hand), so judging, which
loads scikit-image to confirm leaks, is imported only by ``classify``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from canaries import CanaryError, Codebook, Reader, render
from monitor.cli.common import BAD_OUTCOME, OK
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


@click.command("render")
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


@click.command("classify")
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
    sys.exit(BAD_OUTCOME if leaked else OK)


def _classify_one(
    reader: Reader, path: Path, expect: str, now: datetime, stale_after: float
) -> dict[str, Any]:
    from monitor.judge import classify  # scikit-image: only when judging

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
