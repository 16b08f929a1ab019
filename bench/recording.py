"""What recording probe results costs the event loop that runs the probes.

    .venv/bin/python bench/recording.py [--results 400] [--burst 50]
                                        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

Every probe result goes through ``IncidentEngine.handle``: the raw row, four rollup
buckets, the latest-seen row, clean-round counting. Results arrive in bursts (a
scheduler round ending), here ``--burst`` at once until ``--results``. Two ways, in
the same run, on the same database:

- ours: ``handle()``, whose database work runs on the engine's own thread;
- inline: the same work (``IncidentEngine._record_clean``) called on the loop, as
  ``handle()`` did before.

Columns: wall = time for all results; per result = wall / results; loop lag = how
late a 1 ms ticker on the same loop woke (p50, p99, max): what every probe in flight
waits, its timings included.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from history import postgres_schema  # bench/, beside this script

from monitor.config import CanaryConfig, PathConfig
from monitor.incidents import IncidentEngine
from monitor.killswitch import RecordKillSwitch
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.verdict import Verdict

CANARIES = (CanaryConfig(name="lobby", camera_id="cam-lobby", token="t"),)  # noqa: S106 - no server
PATHS = (PathConfig(name="app", kind="snapshot", url="http://cloud.test/app/{camera_id}"),)


@dataclass
class Row:
    backend: str
    approach: str
    wall: float
    per_result_ms: float
    lag_p50: float
    lag_p99: float
    lag_max: float


def result(k: int) -> ProbeResult:
    return ProbeResult(
        canary="lobby",
        path="app",
        profile=("good", "3g")[k % 2],
        started_at=datetime.now(UTC),
        duration_s=0.5 + (k % 7) / 10,
        verdict=Verdict.OWN,
        status=200,
        bytes_received=30_000,
        detail="own canary",
    )


async def timed(
    n: int, burst: int, record: Callable[[ProbeResult], Awaitable[None]]
) -> tuple[float, list[float]]:
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            began = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - began - 0.001)

    ticking = asyncio.create_task(ticker())
    began = time.perf_counter()
    for start in range(0, n, burst):
        await asyncio.gather(*(record(result(k)) for k in range(start, min(n, start + burst))))
    wall = time.perf_counter() - began
    stop.set()
    await ticking
    lags.sort()
    return wall, lags


async def inline(engine: IncidentEngine, r: ProbeResult) -> None:
    engine._record_clean(r)  # the old handle(): on the loop


def measure(backend: str, url: str, args: argparse.Namespace) -> list[Row]:
    store = Store(url)
    rows = []
    try:
        store.migrate()
        store.register(CANARIES, PATHS)
        engine = IncidentEngine(store, [], RecordKillSwitch(), PATHS)

        async def ours(r: ProbeResult) -> None:
            await engine.handle(r)

        async def old(r: ProbeResult) -> None:
            await inline(engine, r)

        for approach, record in (("ours: handle()", ours), ("inline on the loop", old)):
            asyncio.run(timed(50, 50, record))  # warm: caches, connections
            wall, lags = asyncio.run(timed(args.results, args.burst, record))
            rows.append(
                Row(
                    backend,
                    approach,
                    wall,
                    wall * 1000 / args.results,
                    statistics.median(lags) * 1000,
                    lags[int(0.99 * (len(lags) - 1))] * 1000,
                    lags[-1] * 1000,
                )
            )
        engine.close()
    finally:
        store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=400)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--postgres", default="", help="also a real PostgreSQL (a schema is made)")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += measure("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    if args.postgres:
        with postgres_schema(args.postgres) as url:  # a fresh schema, dropped afterwards
            rows += measure("PostgreSQL", url, args)
    print(f"{args.results} clean probe results in bursts of {args.burst}")
    print("| backend | approach | wall s | ms per result | loop lag p50 ms | p99 ms | max ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r.backend} | {r.approach} | {r.wall:.2f} | {r.per_result_ms:.2f} | "
            f"{r.lag_p50:.2f} | {r.lag_p99:.1f} | {r.lag_max:.1f} |"
        )


if __name__ == "__main__":
    main()
