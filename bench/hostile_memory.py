"""Peak RSS of one process with 50 hostile probes in flight beside 50 benign ones.

    PYTHONPATH=. .venv/bin/python bench/hostile_memory.py [--n 50]

A loopback server (aiohttp, in this process) serves, per canary, a benign frame (the
canary's own, rendered now) and a hostile one of the same kind:

- hls: a media playlist of one MPEG-TS segment; benign = the canary's 1280x720 frame
  in H.264; hostile = a 1.3 KB H.264 segment whose SPS declares 16000x16000.
- png: a ``snapshot`` path answering image/png; benign = the canary's 1280x720 frame;
  hostile = a 6300x6300 black PNG (39.7 Mpx, just under the reader's old limit).

The probes run through the real stack: ``tests.harness.probing`` (the ``Prober``,
the ``good`` route of a ``ProxyPool``, the ``hls`` and ``snapshot`` adapters, the
reader and the verdict), all started at once with ``asyncio.gather``. Each scenario
runs in a fresh interpreter: ``peak`` is its ru_maxrss growth from after the imports
and the server's setup to the end, so a run measures only its probes.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from canaries import Codebook, render
from monitor.verdict import Verdict
from testbed.streams import encode_video
from tests.harness import probe_config, probing, serving
from tests.hostile_media import black_png, h264_ts_declaring

SECRET = "bench hostile memory: deployment secret"  # noqa: S105 - a bench-only deployment
SIZE = (1280, 720)
SCENARIOS = {  # name: (kind, benign probes, hostile probes) as multiples of --n
    "hls benign": ("hls", 1, 0),
    "hls benign + hostile": ("hls", 1, 1),
    "png benign": ("png", 1, 0),
    "png benign + hostile": ("png", 1, 1),
}


def media(n: int) -> dict[str, bytes]:
    book = Codebook(SECRET.encode())
    now = datetime.now(UTC)
    files: dict[str, bytes] = {}
    hostile_ts, hostile_png = h264_ts_declaring(16_000, 16_000), black_png(6_300, 6_300)
    for i in range(n):
        frame = render(book, f"canary-{i:02d}", now, SIZE).convert("RGB")
        jpeg, png = io.BytesIO(), io.BytesIO()
        frame.save(jpeg, "JPEG", quality=90)
        frame.save(png, "PNG", compress_level=1)
        files[f"/good/cam-{i:02d}/0.ts"] = encode_video([jpeg.getvalue()], 25, "mpegts")
        files[f"/good/cam-{i:02d}/frame.png"] = png.getvalue()
        files[f"/evil/cam-{i:02d}/0.ts"] = hostile_ts
        files[f"/evil/cam-{i:02d}/frame.png"] = hostile_png
    return files


def routes_of(files: dict[str, bytes]) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/{side}/{camera}/live.m3u8")
    async def playlist(request: web.Request) -> web.Response:
        text = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n0.ts\n"
        return web.Response(text=text, content_type="application/vnd.apple.mpegurl")

    @routes.get("/{side}/{camera}/{name}")
    async def file(request: web.Request) -> web.Response:
        kind = "image/png" if request.path.endswith(".png") else "video/mp2t"
        return web.Response(body=files[request.path], content_type=kind)

    return routes


async def scenario(kind: str, benign: int, hostile: int) -> dict[str, object]:
    files = media(max(benign, hostile))
    async with serving(routes_of(files)) as base:
        suffix = "live.m3u8" if kind == "hls" else "frame.png"
        path_kind = "hls" if kind == "hls" else "snapshot"
        paths = [
            {"name": side, "kind": path_kind, "url": f"{base}/{side}/{{camera_id}}/{suffix}"}
            for side in ("good", "evil")
        ]
        fleet = [
            {"name": f"canary-{i:02d}", "camera_id": f"cam-{i:02d}", "token": f"t{i}"}
            for i in range(max(benign, hostile))
        ]
        config = probe_config(SECRET, fleet, paths, deadline_s=60)
        async with probing(config, SECRET) as p:
            await p.probe("good", "good", "canary-00")  # warm: imports, bases, pool
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            specs = [("good", i) for i in range(benign)] + [("evil", i) for i in range(hostile)]
            results = await asyncio.gather(
                *(p.probe(side, "good", f"canary-{i:02d}") for side, i in specs)
            )
            wall = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    sides = [(side, r) for (side, _), r in zip(specs, results, strict=True)]
    tally = Counter((side, r.verdict) for side, r in sides)
    return {
        "benign_own": tally["good", Verdict.OWN],
        "benign": benign,
        "hostile_error": tally["evil", Verdict.ERROR],
        "hostile": hostile,
        "peak_mib": peak / 1024,
        "wall_s": wall,
        "details": sorted({r.detail for side, r in sides if side == "evil"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="probes of each side")
    parser.add_argument("--scenario", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:
        kind, benign, hostile = SCENARIOS[args.scenario]
        print(json.dumps(asyncio.run(scenario(kind, benign * args.n, hostile * args.n))))
        return
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    print(f"hostile memory, {args.n} probes a side, {os.cpu_count()} cores, route 'good'")
    print(f"{'scenario':<22} {'benign own':>10} {'hostile error':>13} {'peak RSS':>10} {'wall':>7}")
    details: set[str] = set()
    for name in SCENARIOS:
        done = subprocess.run(  # noqa: S603 - this script, this interpreter
            [sys.executable, __file__, "--n", str(args.n), "--scenario", name],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        row = json.loads(done.stdout.splitlines()[-1])
        details.update(row["details"])
        own = f"{row['benign_own']}/{row['benign']}"
        error = f"{row['hostile_error']}/{row['hostile']}" if row["hostile"] else "-"
        print(
            f"{name:<22} {own:>10} {error:>13} {row['peak_mib']:>6.0f} MiB {row['wall_s']:>6.1f}s"
        )
    for detail in sorted(details):
        print(f"hostile detail: {detail}")


if __name__ == "__main__":
    main()
