"""How long from a leak verdict to the Slack post: p50/p95 over many incidents.

    .venv/bin/python bench/alert_latency.py [--samples N] [--db URL]

Each sample is a new incident (its own path), handed to the real IncidentEngine at
t0; the clock stops when the fake Slack Web API (loopback, ``testbed.fake_slack``)
receives the parent ``chat.postMessage`` from the real slack-sdk client. Between the
two: the database transaction that records the incident and enqueues the message in
the outbox, the sender's wake-up, its compare-and-set claim, the HTTP call.

Two rows: leaks spaced wider than the per-channel pace (1 message/s), and a burst of
leaks at once, where the pace itself dominates (the n-th incident waits ~n-1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version

from alerts.outbox import OutboxSender
from alerts.slack import SlackNotifier
from monitor.config import CanaryConfig, PathConfig, SlackConfig
from monitor.incidents import IncidentEngine
from monitor.killswitch import RecordKillSwitch
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.verdict import Verdict
from testbed.fake_slack import FakeSlack

CHANNEL = "CBENCH"
BENCH_TOKEN = "bench-token"  # noqa: S105 - canaries that are never probed here


def leak(path: str) -> ProbeResult:
    return ProbeResult(
        canary="lobby",
        path=path,
        profile="3g",
        started_at=datetime.now(UTC),
        duration_s=0.5,
        verdict=Verdict.FOREIGN_CANARY,
        source_canary="nursery",
        distance=3,
    )


async def measure(url: str, samples: int, *, spacing_s: float | None, pace_s: float) -> list[float]:
    paths = [
        PathConfig(name=f"path-{i:03d}", kind="snapshot", url="http://cloud.test/{camera_id}")
        for i in range(samples)
    ]
    store = Store(url)
    try:
        store.migrate()
        canaries = [
            CanaryConfig(name=name, camera_id=f"cam-{name}", token=BENCH_TOKEN)
            for name in ("lobby", "nursery")
        ]
        store.register(canaries, paths)
        async with FakeSlack() as fake:
            slack = SlackConfig.model_validate(
                {"channel": CHANNEL, "min_interval_s": pace_s},
                context={"environ": {"SLACK_BOT_TOKEN": fake.token}},
            )
            notifier = SlackNotifier(
                fake.token, channel=CHANNEL, base_url=fake.url, min_interval_s=pace_s
            )
            sender = OutboxSender(store.engine, notifier)
            engine = IncidentEngine(
                store, [], RecordKillSwitch(), paths, slack=slack, wake=sender.wake
            )
            runner = asyncio.create_task(sender.run())
            started: dict[str, float] = {}
            try:
                for path in paths:
                    started[path.name] = time.monotonic()
                    await engine.handle(leak(path.name))
                    if spacing_s is not None:
                        await asyncio.sleep(spacing_s)
                deadline = time.monotonic() + samples * max(pace_s, 0.1) + 30
                while len(fake.posted(thread=False)) < samples:
                    if time.monotonic() > deadline:
                        raise RuntimeError("not every incident was posted")
                    await asyncio.sleep(0.01)
            finally:
                sender.stop()
                await runner
            latencies = []
            for call in fake.posted(thread=False):
                path = (call.text or "").split("on path ")[1].split(":")[0]
                latencies.append(call.at - started[path])
            return latencies
    finally:
        store.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="incidents per scenario")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: temp SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="camcanary-bench-") as tmp:
        rows = []
        for label, spacing, pace in (
            ("spaced 1.1 s apart, paced 1 msg/s/channel", 1.1, 1.0),
            (f"burst of {args.samples}, paced 1 msg/s/channel", None, 1.0),
            ("spaced 0.05 s apart, unpaced (transport only)", 0.05, 0.0),
        ):
            url = args.db or f"sqlite:///{tmp}/bench-{len(rows)}.db"
            latencies = asyncio.run(measure(url, args.samples, spacing_s=spacing, pace_s=pace))
            rows.append((label, latencies))

    print(
        f"alert latency: leak verdict -> Slack parent post; {args.samples} incidents per row; "
        f"database {args.db or 'SQLite (temp file)'}; slack-sdk {version('slack-sdk')}; "
        f"Python {platform.python_version()}; {platform.machine()} x{os.cpu_count()}"
    )
    print()
    print(f"{'scenario':<48}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'mean ms':>10}")
    for label, latencies in rows:
        ms = [1000 * v for v in latencies]
        print(
            f"{label:<48}{pct(ms, 0.5):>10.1f}{pct(ms, 0.95):>10.1f}"
            f"{max(ms):>10.1f}{statistics.fmean(ms):>10.1f}"
        )


if __name__ == "__main__":
    main()
