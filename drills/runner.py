"""Fire drills: deploy one testbed bug and prove the monitor finds exactly that.

A drill is one of the testbed's bugs (`testbed.BUGS`; ``clean`` is the control). It
starts the testbed camera cloud, builds the monitor on the full matrix (every path of
`testbed.manifest.MANIFEST` x every profile of `monitor.network.PROFILES` x 2-4
canaries) and probes every cell continuously, each cell in its own loop with a
jittered pause of ``interval_s``, at most ``concurrency`` probes at once (the
config's ``schedule.concurrency``) and at most ``kind_limits`` of one path kind:

1. **baseline** for ``baseline_s``, and until every cell of the bug's path has a result;
2. **deploy** the bug through the testbed's admin API (the "cache/server update");
3. **watch** until the finding is in and the rest is checked: a ``leak`` bug must give
   a leak verdict on its path and trip that path's kill switch; a ``stale`` bug must
   give ``own_stale`` on its path. Then every cell must have ``coverage`` results
   from probes started after the deployment (default 1; for ``clean``, 2 results in
   all and 1 after the deployment), and ``settle_s`` must have passed since the
   finding (for ``clean``, since the deployment). The watch ends ``budget_s`` after
   the deployment without a finding, ``budget_s + cover_s`` after it at the latest.

The drill passes (`drills.report.evaluate`) when the finding came on the
bug's path within ``budget_s``, no other path leaked, no leak came before the
deployment, every cell was probed after the deployment, and the kill switches are
tripped on exactly the leaking bug's path. Afterwards every probe loop, the monitor
(proxies, browsers, store) and the testbed (HTTP and RTSP servers) are stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from alerts import ConsoleNotifier
from drills.report import Tracker, evaluate, progress_line
from drills.testbed_process import RemoteTestbed, TestbedProcess, deploy_bug
from monitor.config import parse_config, slack_environ
from monitor.network import PROFILES
from monitor.probe import ProbeSpec
from monitor.service import Monitor, probe_matrix
from testbed import get_bug
from testbed.manifest import MANIFEST, path_configs

TENANTS = ("lobby", "nursery", "garage", "porch")
STOP_GRACE_S = 2.0


@dataclass(frozen=True)
class DrillOptions:
    scenario: str
    paths: tuple[str, ...] = ()  # default: every manifest path
    profiles: tuple[str, ...] = ()  # default: every profile
    canaries: int = 2  # two tenants are all a cross-tenant leak needs
    concurrency: int = 48
    interval_s: float = 3.0  # pause between two probes of one cell (x 0.5-1.5 jitter)
    baseline_s: float = 3.0
    budget_s: float = 60.0  # from the deployment to the finding, at most
    # After the budget, more time for the slowest cells (a browser under 3g) to be
    # probed once more while the bug is live; the finding must be in by the budget.
    cover_s: float = 60.0
    settle_s: float = 4.0
    # Results per cell after the deployment before the drill may end; None: 2 for the
    # clean control (every cell seen twice), 1 for a bug (every other path seen clean
    # while the bug is live, after the finding).
    coverage: int | None = None
    # A browser probe is a whole Chromium: on two cores, more than a few at once only
    # makes every one of them miss its deadline.
    kind_limits: Mapping[str, int] = field(default_factory=lambda: {"browser": 3})
    deadline_s: float = 20.0  # the config default: outage-recovery holds probes 12 s
    db_url: str | None = None

    def __post_init__(self) -> None:
        get_bug(self.scenario)  # UnknownBugError lists the valid scenarios
        for name in self.paths:
            if name not in MANIFEST:
                raise ValueError(f"unknown path {name!r}; valid: {', '.join(MANIFEST)}")
        for name in self.profiles:
            if name not in PROFILES:
                raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
        if not 2 <= self.canaries <= len(TENANTS):
            raise ValueError(f"canaries must be 2 to {len(TENANTS)}, not {self.canaries}")


async def run_drill(options: DrillOptions, err: TextIO) -> dict[str, Any]:
    """Run the drill, narrating on ``err``; returns the report (``report["passed"]``)."""
    bug = get_bug(options.scenario)
    secret, switch_secret = secrets.token_hex(16), secrets.token_hex(16)
    admin = secrets.token_urlsafe(16)
    testbed = TestbedProcess(
        secret.encode(),
        list(TENANTS[: options.canaries]),
        killswitch_secret=switch_secret.encode(),
        admin_token=admin,
    )
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="camcanary-drill-") as tmp:
        db_url = options.db_url or f"sqlite:///{Path(tmp) / 'camcanary.db'}"
        async with testbed as cloud:
            config = parse_config(
                _config(cloud, secret, switch_secret, db_url, options),
                source=f"drill {bug.name}",
                environ=slack_environ(),  # with SLACK_BOT_TOKEN set, post like the service
            )
            tracker = Tracker(bug, [(s.path.name, s.profile) for s in probe_matrix(config)])
            monitor = Monitor(config, notifiers=[ConsoleNotifier(err)], on_result=tracker.add)
            try:
                await monitor.prepare()
                monitor.start_alerting()
                _say(
                    err,
                    bug.name,
                    f"testbed at {cloud.url}; {len(monitor.specs)} probes a round: "
                    f"{len(config.paths)} paths x {len(config.profiles)} profiles x "
                    f"{len(config.canaries)} canaries, {options.concurrency} at once",
                )
                await _drive(monitor, tracker, options, err, began, cloud.url, admin)
                switches = monitor.store.kill_switches()
                if monitor.slack is not None:
                    left = await monitor.flush_alerts(timeout_s=15)
                    queued = f" ({left} messages still queued)" if left else ""
                    _say(err, bug.name, f"Slack: posted to {config.slack.channel}{queued}")
            finally:
                await monitor.stop()
    coverage = _coverage(options)
    report = evaluate(tracker, switches, budget_s=options.budget_s, coverage=coverage)
    report["wall_s"] = round(time.monotonic() - began, 1)
    report["canaries"] = options.canaries
    return report


async def _drive(
    monitor: Monitor,
    tracker: Tracker,
    options: DrillOptions,
    err: TextIO,
    began: float,
    url: str,
    admin: str,
) -> None:
    """Probe every cell in its own loop through the baseline, the deployment and the
    watch; all loops have ended when this returns."""
    bug = tracker.bug
    stopping = asyncio.Event()
    slots = {kind: asyncio.Semaphore(n) for kind, n in options.kind_limits.items()}
    coverage = _coverage(options)

    def pause(spec: ProbeSpec) -> float:
        # Every cell keeps one pace until the finding (or, for the control, from the
        # start), so the time to detect is what a uniform schedule gives. From then
        # on a cell that has its results slows to a tenth and leaves the cores to the
        # cells still owed one.
        cell = (spec.path.name, spec.profile)
        checking = tracker.found is not None or bug.symptom == "none"
        after = tracker.after[cell]
        slow = checking and after >= 1 and after + tracker.before[cell] >= coverage
        return options.interval_s * random.uniform(0.5, 1.5) * (10 if slow else 1)

    workers = [
        asyncio.create_task(_cell(monitor, spec, pause, stopping, slots.get(spec.path.kind)))
        for spec in monitor.specs
    ]
    try:
        baseline = _baseline_done(tracker, options, began)
        limit = began + options.baseline_s + options.budget_s
        await _phase(err, monitor, tracker, began, "baseline", baseline, until=limit)
        tracker.deployed()  # before the request: a finding from now on is the bug's
        await deploy_bug(url, admin, bug.name)
        _say(err, bug.name, f"deployed the bug ({bug.incident})")
        watch = _watch_done(monitor, tracker, options)
        limit = tracker.deployed_mono + options.budget_s + options.cover_s
        await _phase(err, monitor, tracker, began, "watching", watch, until=limit)
    finally:
        stopping.set()
        # A loop ends after its probe in flight. The verdict is in, so a probe still
        # waiting out an outage or a stalled stream gets a short grace and is then
        # cancelled, as at its deadline: adapters release everything on cancellation.
        _, late = await asyncio.wait(workers, timeout=STOP_GRACE_S)
        for task in late:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def _config(
    cloud: RemoteTestbed,
    secret: str,
    switch_secret: str,
    db_url: str,
    options: DrillOptions,
) -> dict[str, Any]:
    return {
        "deployment": {"secret": secret},
        "canaries": [
            {"name": t.canary, "camera_id": t.camera_id, "token": t.token} for t in cloud.tenants
        ],
        "paths": path_configs(cloud.url, options.paths or None, facts=cloud.facts, on_leak="trip"),
        "profiles": list(options.profiles or PROFILES),
        "schedule": {"concurrency": options.concurrency},
        "probe": {"deadline_s": options.deadline_s, "stale_after_s": 30},
        "store": {"url": db_url},
        "killswitch": {
            "kind": "webhook",
            "url": cloud.url + "/admin/v1/killswitch",
            "secret": switch_secret,
        },
    }


async def _cell(
    monitor: Monitor,
    spec: ProbeSpec,
    pause_of: Callable[[ProbeSpec], float],
    stop: asyncio.Event,
    kind_slots: asyncio.Semaphore | None,
) -> None:
    """Probe one cell again and again, ``pause_of(spec)`` apart, until ``stop``."""
    pause = random.uniform(0, pause_of(spec))  # spread the first probes over one pause
    while True:
        try:
            async with asyncio.timeout(pause):
                await stop.wait()
            return
        except TimeoutError:
            pass
        async with kind_slots or contextlib.nullcontext():
            await monitor.run_probe(spec)
        pause = pause_of(spec)


def _coverage(options: DrillOptions) -> int:
    if options.coverage is not None:
        return options.coverage
    return 2 if get_bug(options.scenario).symptom == "none" else 1


def _baseline_done(tracker: Tracker, options: DrillOptions, began: float) -> Callable[[], bool]:
    # The bug's path must have been probed in every cell, so its clients know their
    # network (Client Hints) and hold sessions, as a real fleet does when an update
    # lands; the other cells need not wait for their first result.
    path = tracker.bug.path
    return lambda: (
        time.monotonic() - began >= options.baseline_s
        and (path is None or tracker.min_results(after_deploy=False, path=path) >= 1)
    )


def _watch_done(monitor: Monitor, tracker: Tracker, options: DrillOptions) -> Callable[[], bool]:
    bug = tracker.bug

    def done() -> bool:
        late = time.monotonic() > tracker.deployed_mono + options.budget_s
        if bug.symptom != "none" and tracker.found is None and late:
            return True  # no finding within the budget: the drill has failed already
        since = tracker.found_mono if bug.symptom != "none" else tracker.deployed_mono
        if since is None or time.monotonic() - since < options.settle_s:
            return False
        leaking = bug.symptom == "leak" and bug.path is not None
        if leaking and monitor.store.kill_switch(bug.path or "") != "tripped":
            return False
        if bug.symptom == "none":  # the clean control: its "deployment" changes nothing
            covered = tracker.min_results() >= _coverage(options)
            return covered and tracker.min_results(after_deploy=True) >= 1
        return tracker.min_results(after_deploy=True) >= _coverage(options)

    return done


async def _phase(
    err: TextIO,
    monitor: Monitor,
    tracker: Tracker,
    began: float,
    phase: str,
    done: Callable[[], bool],
    *,
    until: float,
) -> None:
    shown = 0.0
    while time.monotonic() < until and not done():
        await asyncio.sleep(0.25)
        if time.monotonic() - shown >= 2.0:
            shown = time.monotonic()
            line = progress_line(tracker, monitor.store.kill_switches(), shown - began, phase)
            print(line, file=err, flush=True)


def _say(err: TextIO, scenario: str, message: str) -> None:
    print(f"camcanary drill {scenario}: {message}", file=err, flush=True)
