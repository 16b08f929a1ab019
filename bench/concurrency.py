"""How many concurrent snapshot probes one process sustains under ``3g``, on one core.

    .venv/bin/python bench/concurrency.py [--n 100,250,500,1000] [--naive-max 500]
                                          [--sustain 250,500,750] [--seconds 20]

The testbed camera cloud runs as a subprocess (``python -m testbed``) pinned to
core 1; this process pins itself to core 0 (``os.sched_setaffinity``) and drives the
real stack: ``monitor.probe.Prober`` with the ``snapshot`` adapter over a
``ProxyPool`` route at ``3g`` (400 kbit/s and 400 ms RTT per connection), JPEG
decode and canary reading included. The proxy runs in this process too, on the same
core, as the built-in backend does in the service.

Two workloads:

- burst: N probes fired at once. The naive peer, in the same run: a thread per
  probe, each doing a blocking ``httpx.Client`` GET through the same proxy and
  reading the frame in its thread.
- sustained: K probes kept in flight for ``--seconds`` (each finished probe is
  replaced at once by the next canary's). This is the steady state of a busy
  service; every figure but the peak is of the probes that ended after the first
  3 s and before the end, and of the CPU spent in that window.

Columns: open = connections open through the proxy at once (sampled every 20 ms:
the peak for a burst, the mean and the 5th percentile for a sustained run); own =
probes whose verdict was the canary's own fresh frame; error = the others; p50/p95 =
probe durations; CPU = this process's CPU time over wall time (100 % = the whole
core), and per probe.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from canaries import Codebook, Reader
from monitor.config import CanaryConfig, PathConfig
from monitor.judge import classify
from monitor.network import PROFILES, ProxyPool
from monitor.paths import PATH_KINDS
from monitor.probe import Prober, ProbeSpec
from monitor.verdict import Verdict

PROFILE = "3g"
STALE_AFTER_S = 60.0


RAMP_S = 3.0  # a sustained run is measured from here on


@dataclass
class Row:
    approach: str
    n: int
    open_peak: int
    open_mean: float
    open_p5: int
    completed: int
    own: int
    errors: int
    p50: float
    p95: float
    wall: float
    cpu: float
    cpu_ms: float

    @property
    def rate(self) -> float:
        return self.completed / self.wall


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_testbed(secret_file: Path, tenants: list[str], port: int) -> subprocess.Popen[str]:
    cores = sorted(os.sched_getaffinity(0))
    other = {cores[1]} if len(cores) > 1 else set(cores)
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "testbed",
            "--port",
            str(port),
            "--tenants",
            ",".join(tenants),
            "--secret-file",
            str(secret_file),
            "--fps",
            "0.5",  # the cameras' own rendering stays small next to serving probes
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, other),
    )


def read_tenants(process: subprocess.Popen[str]) -> dict[str, tuple[str, str]]:
    """name -> (camera id, token), from the testbed's banner."""
    tenants: dict[str, tuple[str, str]] = {}
    assert process.stdout is not None
    for line in process.stdout:
        # export CANARY_T0_TOKEN=<token>  # tenant t0, cam-t0
        if line.startswith("export CANARY_") and "# tenant " in line:
            assignment, comment = line.split("#", 1)
            token = assignment.split("=", 1)[1].strip()
            name, camera = (part.strip() for part in comment.removeprefix(" tenant ").split(","))
            tenants[name] = (camera, token)
        if line.startswith("bugs deployed"):
            return tenants
    raise RuntimeError("the testbed exited before it was ready")


async def sample_open(pool: ProxyPool, stop: asyncio.Event) -> list[tuple[float, int]]:
    """(seconds since start, connections open through the pool), every 20 ms."""
    began = time.perf_counter()
    samples: list[tuple[float, int]] = []
    while not stop.is_set():
        samples.append((time.perf_counter() - began, pool_open(pool)))
        await asyncio.sleep(0.02)
    return samples


def pool_open(pool: ProxyPool) -> int:
    return sum(p.active_connections for p in pool.proxies())


@dataclass
class Window:
    """Where a sustained run is measured: from ``start`` to ``end`` seconds after it began,
    with the process CPU time spent in between."""

    start: float
    end: float
    cpu: float = 0.0


async def timed(
    approach: str,
    n: int,
    pool: ProxyPool,
    work: Awaitable[list[tuple[str, float]]],
    window: Window | None = None,
) -> Row:
    """Run ``work``; with a ``window``, every figure but the peak is of that window."""
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_open(pool, stop))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcomes = await work  # a coroutine: nothing ran before the clocks started
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stop.set()
    samples = await sampler
    steady = [count for _, count in samples]
    if window is not None:
        cpu, wall = window.cpu, window.end - window.start
        steady = [count for t, count in samples if window.start <= t < window.end]
    steady = sorted(steady) or [0]
    durations = sorted(d for _, d in outcomes)
    verdicts = Counter(v for v, _ in outcomes)
    return Row(
        approach,
        n,
        max(count for _, count in samples),
        statistics.fmean(steady),
        steady[int(0.05 * (len(steady) - 1))],
        len(outcomes),
        verdicts[Verdict.OWN.value],
        len(outcomes) - verdicts[Verdict.OWN.value],
        statistics.median(durations),
        durations[int(0.95 * (len(durations) - 1))],
        wall,
        cpu / wall,
        cpu * 1000 / len(outcomes),
    )


async def run_async(prober: Prober, specs: list[ProbeSpec]) -> list[tuple[str, float]]:
    results = await asyncio.gather(*(prober.probe(spec) for spec in specs))
    return [(r.verdict.value, r.duration_s) for r in results]


async def run_sustained(
    prober: Prober, specs: list[ProbeSpec], k: int, window: Window
) -> list[tuple[str, float]]:
    """``k`` probes in flight until ``window.end``; the outcomes of the probes that
    ended inside the window, whose CPU time it records."""
    began = time.monotonic()
    outcomes: list[tuple[str, float]] = []

    async def slot(i: int) -> None:
        while time.monotonic() - began < window.end:
            result = await prober.probe(specs[i % len(specs)])
            if window.start <= time.monotonic() - began < window.end:
                outcomes.append((result.verdict.value, result.duration_s))
            i += k

    async def clock() -> None:
        await asyncio.sleep(window.start)
        cpu = time.process_time()
        await asyncio.sleep(window.end - window.start)
        window.cpu = time.process_time() - cpu

    await asyncio.gather(clock(), *(slot(i) for i in range(k)))
    return outcomes


def naive_probe(
    reader: Reader, url: str, host: str, canary: CanaryConfig, deadline_s: float
) -> tuple[str, float]:
    began = time.monotonic()
    try:
        with httpx.Client(timeout=deadline_s, trust_env=False) as client:
            response = client.get(
                url.format(camera_id=canary.camera_id),
                headers={
                    "Authorization": f"Bearer {canary.token.get_secret_value()}",
                    "Host": host,
                },
            )
        if response.status_code != 200:
            return "error", time.monotonic() - began
        judgement = classify(
            reader, response.content, canary.name, datetime.now(UTC), STALE_AFTER_S
        )
        return judgement.verdict.value, time.monotonic() - began
    except httpx.HTTPError:
        return "error", time.monotonic() - began


async def run_naive(
    reader: Reader, url: str, host: str, canaries: list[CanaryConfig], deadline_s: float
) -> list[tuple[str, float]]:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=len(canaries)) as threads:
        futures = [
            loop.run_in_executor(threads, naive_probe, reader, url, host, c, deadline_s)
            for c in canaries
        ]
        return list(await asyncio.gather(*futures))


def snapshot_prober(reader: Reader, path: PathConfig, pool: ProxyPool, deadline: float) -> Prober:
    return Prober(
        reader,
        {path.name: PATH_KINDS["snapshot"](path)},
        pool,
        deadline_s=deadline,
        stale_after_s=STALE_AFTER_S,
    )


async def bench(
    args: argparse.Namespace, tenants: dict[str, tuple[str, str]], base: str, secret: bytes
) -> tuple[list[Row], list[Row]]:
    names = sorted(tenants)
    canaries = [CanaryConfig(name=n, camera_id=tenants[n][0], token=tenants[n][1]) for n in names]
    path = PathConfig(
        name="app", kind="snapshot", url=base + "/app/v1/cameras/{camera_id}/snapshot"
    )
    reader = Reader(Codebook(secret), names)
    specs = [ProbeSpec(c, path, PROFILE) for c in canaries]
    bursts: list[Row] = []
    for n in args.n:
        fleet = [canaries[i % len(canaries)] for i in range(n)]
        async with ProxyPool() as pool:
            prober = snapshot_prober(reader, path, pool, args.deadline)
            work = run_async(prober, [ProbeSpec(c, path, PROFILE) for c in fleet])
            bursts.append(await timed("asyncio Prober", n, pool, work))
        await asyncio.sleep(1.0)  # let the testbed's sockets settle between rounds
        if n <= args.naive_max:
            async with ProxyPool() as pool:
                host, port = base.removeprefix("http://").split(":")
                route = await pool.route(host, int(port), PROFILES[PROFILE])
                url = f"http://{route[0]}:{route[1]}/app/v1/cameras/{{camera_id}}/snapshot"
                naive = run_naive(reader, url, f"{host}:{port}", fleet, args.deadline)
                bursts.append(await timed("thread per probe", n, pool, naive))
            await asyncio.sleep(1.0)
    sustained: list[Row] = []
    for k in args.sustain:
        async with ProxyPool() as pool:
            prober = snapshot_prober(reader, path, pool, args.deadline)
            window = Window(RAMP_S, args.seconds)
            work = run_sustained(prober, specs, k, window)
            label = f"asyncio Prober, {args.seconds:g} s"
            sustained.append(await timed(label, k, pool, work, window))
        await asyncio.sleep(1.0)
    return bursts, sustained


def print_tables(bursts: list[Row], sustained: list[Row]) -> None:
    print("\nburst: N probes fired at once")
    columns = "open peak | completed | own | error | p50 s | p95 s | wall s | CPU"
    print(f"| approach | N | {columns} | CPU ms/probe |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in bursts:
        print(
            f"| {r.approach} | {r.n} | {r.open_peak} | {r.completed} | {r.own} | {r.errors} | "
            f"{r.p50:.2f} | {r.p95:.2f} | {r.wall:.1f} | {r.cpu:.0%} | {r.cpu_ms:.1f} |"
        )
    if not sustained:
        return
    print(f"\nsustained: K probes kept in flight (figures from {RAMP_S:g} s to the end)")
    columns = "open mean | open p5 | probes/s | own | error | p50 s | p95 s | CPU"
    print(f"| approach | K | {columns} | CPU ms/probe |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in sustained:
        print(
            f"| {r.approach} | {r.n} | {r.open_mean:.0f} | {r.open_p5} | {r.rate:.0f} | "
            f"{r.own} | {r.errors} | {r.p50:.2f} | {r.p95:.2f} | {r.cpu:.0%} | {r.cpu_ms:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=lambda s: [int(x) for x in s.split(",")], default=[100, 250, 500, 1000]
    )
    parser.add_argument("--naive-max", type=int, default=500, help="largest N for the naive peer")
    parser.add_argument(
        "--sustain", type=lambda s: [int(x) for x in s.split(",") if x], default=[250, 500, 750]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of a sustained run")
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=30.0)
    args = parser.parse_args()
    secret = secrets.token_hex(32).encode()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        secret_file = Path(tmp) / "secret"
        secret_file.write_bytes(secret)
        testbed = start_testbed(secret_file, [f"t{i}" for i in range(args.tenants)], port)
        try:
            tenants = read_tenants(testbed)
            core = min(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {core})  # before any thread exists: they inherit it
            bursts, sustained = asyncio.run(
                bench(args, tenants, f"http://127.0.0.1:{port}", secret)
            )
        finally:
            testbed.terminate()
            testbed.wait(10)
    print(
        f"snapshot probes under {PROFILE}, this process on core {core}, "
        f"testbed in a subprocess on another core; deadline {args.deadline:g} s"
    )
    print_tables(bursts, sustained)


if __name__ == "__main__":
    main()
