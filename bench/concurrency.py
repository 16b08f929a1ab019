"""How many concurrent snapshot probes one process sustains under ``3g``, on one core.

    .venv/bin/python bench/concurrency.py [--n 100,250,500,1000] [--naive-max 500]

The testbed camera cloud runs as a subprocess (``python -m testbed``) pinned to
core 1; this process pins itself to core 0 (``os.sched_setaffinity``) and, for each
N, fires N probes at once through the real stack: ``monitor.probe.Prober`` with the
``snapshot`` adapter over a ``ProxyPool`` route at ``3g`` (400 kbit/s and 400 ms RTT
per connection), JPEG decode and canary reading included. The naive peer, in the
same run: a thread per probe, each doing a blocking ``httpx.Client`` GET through the
same proxy and reading the frame in its thread.

Columns: in-flight peak = the most connections open through the proxy at once
(sampled every 20 ms); own = probes whose verdict was the canary's own fresh frame;
error = the others; p50/p95 = probe durations; CPU = this process's CPU time over
wall time (100 % = the whole core), and per probe.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import secrets
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from canaries import Codebook, Reader
from monitor.config import CanaryConfig, PathConfig
from monitor.network import PROFILES, ProxyPool
from monitor.paths import PATH_KINDS
from monitor.probe import Prober, ProbeSpec
from monitor.verdict import Verdict, classify

PROFILE = "3g"
STALE_AFTER_S = 60.0


@dataclass
class Row:
    approach: str
    n: int
    peak: int
    completed: int
    own: int
    errors: int
    p50: float
    p95: float
    wall: float
    cpu: float
    cpu_ms: float


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


async def sample_peak(pool: ProxyPool, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, sum(p.active_connections for p in pool.proxies()))
        await asyncio.sleep(0.02)
    return peak


async def timed(
    approach: str, n: int, pool: ProxyPool, work: Awaitable[list[tuple[str, float]]]
) -> Row:
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_peak(pool, stop))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcomes = await work  # a coroutine: nothing ran before the clocks started
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stop.set()
    peak = await sampler
    durations = sorted(d for _, d in outcomes)
    verdicts = Counter(v for v, _ in outcomes)
    return Row(
        approach,
        n,
        peak,
        len(outcomes),
        verdicts[Verdict.OWN.value],
        len(outcomes) - verdicts[Verdict.OWN.value],
        statistics.median(durations),
        durations[int(0.95 * (len(durations) - 1))],
        wall,
        cpu / wall,
        cpu * 1000 / n,
    )


async def run_async(prober: Prober, specs: list[ProbeSpec]) -> list[tuple[str, float]]:
    results = await asyncio.gather(*(prober.probe(spec) for spec in specs))
    return [(r.verdict.value, r.duration_s) for r in results]


@contextlib.contextmanager
def shared_tls_context() -> Iterator[None]:
    """The fix proposed for ``SnapshotPath``: every per-probe ``httpx.AsyncClient`` gets
    one SSLContext made once, instead of loading the CA bundle again (tens of ms of CPU,
    on the event loop). Patched here only to measure it; the adapter should pass
    ``verify=`` itself."""
    context = ssl.create_default_context()
    original = httpx.AsyncClient.__init__

    @functools.wraps(original)
    def init(self: httpx.AsyncClient, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("verify", context)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    httpx.AsyncClient.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx.AsyncClient.__init__ = original  # type: ignore[method-assign]


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


async def bench(
    args: argparse.Namespace, tenants: dict[str, tuple[str, str]], base: str, secret: bytes
) -> list[Row]:
    names = sorted(tenants)
    canaries = [CanaryConfig(name=n, camera_id=tenants[n][0], token=tenants[n][1]) for n in names]
    path = PathConfig(
        name="app", kind="snapshot", url=base + "/app/v1/cameras/{camera_id}/snapshot"
    )
    reader = Reader(Codebook(secret), names)
    rows = []
    for n in args.n:
        fleet = [canaries[i % len(canaries)] for i in range(n)]
        async with ProxyPool() as pool:
            prober = Prober(
                reader,
                {"app": PATH_KINDS["snapshot"](path)},
                pool,
                deadline_s=args.deadline,
                stale_after_s=STALE_AFTER_S,
            )
            specs = [ProbeSpec(c, path, PROFILE) for c in fleet]
            rows.append(await timed("asyncio Prober", n, pool, run_async(prober, specs)))
        await asyncio.sleep(1.0)
        async with ProxyPool() as pool:
            prober = Prober(
                reader,
                {"app": PATH_KINDS["snapshot"](path)},
                pool,
                deadline_s=args.deadline,
                stale_after_s=STALE_AFTER_S,
            )
            with shared_tls_context():
                label = "asyncio Prober, shared TLS context"
                rows.append(await timed(label, n, pool, run_async(prober, specs)))
        if n <= args.naive_max:
            async with ProxyPool() as pool:
                host, port = base.removeprefix("http://").split(":")
                route = await pool.route(host, int(port), PROFILES[PROFILE])
                url = f"http://{route[0]}:{route[1]}/app/v1/cameras/{{camera_id}}/snapshot"
                rows.append(
                    await timed(
                        "thread per probe",
                        n,
                        pool,
                        run_naive(reader, url, f"{host}:{port}", fleet, args.deadline),
                    )
                )
        await asyncio.sleep(1.0)  # let the testbed's sockets settle between rounds
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=lambda s: [int(x) for x in s.split(",")], default=[100, 250, 500, 1000]
    )
    parser.add_argument("--naive-max", type=int, default=500, help="largest N for the naive peer")
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
            rows = asyncio.run(bench(args, tenants, f"http://127.0.0.1:{port}", secret))
        finally:
            testbed.terminate()
            testbed.wait(10)
    print(
        f"snapshot probes under {PROFILE}, this process on core {core}, "
        f"testbed in a subprocess on another core; deadline {args.deadline:g} s"
    )
    columns = "in-flight peak | completed | own | error | p50 s | p95 s | wall s | CPU"
    print(f"| approach | N | {columns} | CPU ms/probe |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r.approach} | {r.n} | {r.peak} | {r.completed} | {r.own} | {r.errors} | "
            f"{r.p50:.2f} | {r.p95:.2f} | {r.wall:.1f} | {r.cpu:.0%} | {r.cpu_ms:.1f} |"
        )


if __name__ == "__main__":
    main()
