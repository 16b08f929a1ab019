"""The fire drill behind ``camcanary demo``: the Xiaomi/Nest Hub leak of January 2020,
reproduced on a loopback camera cloud and caught end to end.

Three tenants, each with a canary camera; the monitor probes the vendor app path and
the smart-display (hub) path under the ``good`` and ``3g`` profiles. After a baseline,
a "cache update" is deployed that keys the hub's stills by quality tier for slow
clients; the monitor must see a foreign canary on hub/3g and trip only the hub.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from alerts import ConsoleNotifier
from drills.report import finding
from monitor.config import parse_config, slack_environ
from monitor.results import ProbeResult
from monitor.service import Monitor
from monitor.verdict import OUTCOMES, KillSwitchState, Outcome, Verdict, outcome_of
from testbed import TestbedCloud, TestbedServer

TENANTS = ("lobby", "nursery", "garage")
BUG = "xiaomi-2020"


@dataclass(frozen=True)
class DemoOptions:
    baseline_s: float = 8.0
    timeout_s: float = 45.0  # after the cache update
    settle_s: float = 3.0  # keep probing after the trip, to show the path refused
    interval_s: float = 1.5
    jitter_s: float = 0.5
    db_url: str | None = None


@dataclass
class _Tracker:
    counts: Counter[tuple[str, str, Verdict]] = field(default_factory=Counter)
    first_leak: ProbeResult | None = None
    first_leak_at: float | None = None

    def add(self, result: ProbeResult) -> None:
        self.counts[(result.path, result.profile, result.verdict)] += 1
        if result.verdict.is_leak and self.first_leak is None:
            self.first_leak, self.first_leak_at = result, time.monotonic()


async def run_demo(options: DemoOptions, out: TextIO) -> dict[str, Any]:
    """Run the drill, narrating on ``out``; returns the summary (see ``summary_ok``)."""
    secret = secrets.token_hex(16)
    switch_secret = secrets.token_hex(16)
    admin = secrets.token_urlsafe(16)
    cloud = TestbedCloud.create(
        secret.encode(),
        list(TENANTS),
        killswitch_secret=switch_secret.encode(),
        admin_token=admin,
    )
    with tempfile.TemporaryDirectory(prefix="camcanary-demo-") as tmp:
        db_url = options.db_url or f"sqlite:///{Path(tmp) / 'camcanary.db'}"
        async with TestbedServer(cloud) as server:
            _say(out, f"testbed camera cloud at {server.url}: tenants {', '.join(TENANTS)}")
            # Only the Slack variables come from the environment: with SLACK_BOT_TOKEN
            # and CAMCANARY_SLACK_CHANNEL set, the drill posts there like the service.
            config = parse_config(
                demo_config(server.url, cloud, secret, switch_secret, db_url, options),
                environ=slack_environ(),
            )
            tracker = _Tracker()
            monitor = Monitor(config, notifiers=[ConsoleNotifier(out)], on_result=tracker.add)
            began = deployed = time.monotonic()
            await monitor.start()
            try:
                _say(
                    out,
                    f"probing {len(monitor.specs)} probes (canary x path x profile) "
                    f"every {options.interval_s:g}s; baseline for {options.baseline_s:g}s",
                )
                await _watch(out, monitor, tracker, began, until=began + options.baseline_s)
                baseline_leaks = sum(n for (_, _, v), n in tracker.counts.items() if v.is_leak)
                _say(out, f"deploying the hub 'cache update' ({BUG})")
                async with httpx.AsyncClient(trust_env=False) as client:
                    response = await client.post(
                        f"{server.url}/admin/v1/bugs",
                        json={"bug": BUG, "enabled": True},
                        headers={"Authorization": f"Bearer {admin}"},
                    )
                    response.raise_for_status()
                deployed = time.monotonic()

                def caught() -> bool:
                    return monitor.store.kill_switch("hub") == KillSwitchState.TRIPPED

                await _watch(
                    out, monitor, tracker, began, until=deployed + options.timeout_s, stop=caught
                )
                if caught():
                    _say(out, "hub kill switch tripped; probing on to show the path refused")
                    await _watch(
                        out, monitor, tracker, began, until=time.monotonic() + options.settle_s
                    )
            finally:
                if monitor.slack is not None:
                    left = await monitor.flush_alerts(timeout_s=15)
                    _say(
                        out,
                        f"Slack: posted to {config.slack.channel}"
                        + (f" ({left} messages still queued)" if left else ""),
                    )
                await monitor.stop()
            summary = _summary(monitor, tracker, deployed, baseline_leaks)
            _render(out, tracker, monitor.store.kill_switches(), time.monotonic() - began)
            return summary


def demo_config(
    url: str,
    cloud: TestbedCloud,
    secret: str,
    switch_secret: str,
    db_url: str,
    options: DemoOptions,
) -> dict[str, Any]:
    return {
        "deployment": {"secret": secret},
        "canaries": [
            {"name": t.canary, "camera_id": t.camera_id, "token": t.token} for t in cloud.tenants
        ],
        "paths": [
            {
                "name": "app",
                "kind": "snapshot",
                "on_leak": "trip",
                "url": url + "/app/v1/cameras/{camera_id}/snapshot",
            },
            {
                "name": "hub",
                "kind": "snapshot",
                "on_leak": "trip",
                "url": url + "/hub/v1/cameras/{camera_id}/still",
            },
        ],
        "profiles": ["good", "3g"],
        "schedule": {
            "interval_s": options.interval_s,
            "jitter_s": options.jitter_s,
            "concurrency": 12,
        },
        "probe": {"deadline_s": 8, "stale_after_s": 30},
        "store": {"url": db_url},
        "killswitch": {
            "kind": "webhook",
            "url": url + "/admin/v1/killswitch",
            "secret": switch_secret,
        },
    }


async def _watch(
    out: TextIO,
    monitor: Monitor,
    tracker: _Tracker,
    began: float,
    *,
    until: float,
    stop: Any = None,
) -> None:
    while time.monotonic() < until:
        await asyncio.sleep(min(2.0, max(0.0, until - time.monotonic())))
        _render(out, tracker, monitor.store.kill_switches(), time.monotonic() - began)
        if stop is not None and stop():
            return


def _summary(
    monitor: Monitor, tracker: _Tracker, deployed: float, baseline_leaks: int
) -> dict[str, Any]:
    counts = monitor.store.verdict_counts()
    leaks = {path.name: 0 for path in monitor.config.paths}
    leak_profiles: set[str] = set()
    for (path, profile, verdict), n in counts.items():
        if Verdict(verdict).is_leak:
            leaks[path] += n
            leak_profiles.add(profile)
    first = tracker.first_leak
    detect = None if tracker.first_leak_at is None else tracker.first_leak_at - deployed
    return {
        "leak_detected": leaks.get("hub", 0) > 0,
        "leaks_by_path": leaks,
        "kill_switch": monitor.store.kill_switches(),
        "seconds_to_detect": None if detect is None else round(detect, 2),
        "leak_profiles": sorted(leak_profiles),
        "baseline_leaks": baseline_leaks,
        "first_leak": finding(first),
        "probes": sum(counts.values()),
    }


def summary_ok(summary: dict[str, Any]) -> bool:
    """The drill passes when only hub/3g leaked, and only the hub was switched off."""
    return bool(
        summary["leak_detected"]
        and summary["leaks_by_path"].get("app") == 0
        and summary["leak_profiles"] == ["3g"]
        and summary["baseline_leaks"] == 0
        and summary["kill_switch"] == {"app": "armed", "hub": "tripped"}
    )


def _say(out: TextIO, message: str) -> None:
    print(f"camcanary demo: {message}", file=out, flush=True)


def _render(out: TextIO, tracker: _Tracker, switches: dict[str, str], elapsed: float) -> None:
    header = (
        f"  t+{elapsed:4.0f}s  {'path/profile':<14}"
        + "".join(f"{_column(o):>9}" for o in OUTCOMES)
        + "  kill switch"
    )
    lines = [header]
    for path, profile in sorted({(p, pr) for p, pr, _ in tracker.counts}):
        by_outcome = Counter[str]()
        for (p, pr, verdict), n in tracker.counts.items():
            if (p, pr) == (path, profile):
                by_outcome[outcome_of(verdict)] += n
        cells = "".join(f"{by_outcome[o]:>9}" for o in OUTCOMES)
        lines.append(f"          {path + '/' + profile:<14}{cells}  {switches.get(path, '?')}")
    print("\n".join(lines), file=out, flush=True)


def _column(outcome: str) -> str:
    return "LEAK" if outcome == Outcome.LEAK else outcome  # the one column that shouts
