"""Prometheus metrics of one monitor, in its own registry (never the global one).

Counted as probes finish (``Metrics.observe``, called by ``Monitor.run_probe``):

* ``camcanary_probes_total{path,profile,verdict}``: probes by verdict;
* ``camcanary_probe_duration_seconds{path,profile}``: histogram of probe durations;
* ``camcanary_scheduler_lag_seconds``: histogram of how late scheduled probes start.

Read from the database at scrape time (``StoreCollector``: small indexed queries), so
they are right across restarts and replicas:

* ``camcanary_open_incidents{path}``: open incidents (0 for quiet paths);
* ``camcanary_killswitch_state{path,state}``: 1 for the current state, 0 for the others;
* ``camcanary_outbox_depth``: alert messages waiting to be delivered;
* ``camcanary_outbox_dead``: alert messages given up on (a permanent Slack error);
* ``camcanary_last_success_timestamp_seconds{path}``: Unix time of the last probe that
  was not ``error``, so a silent monitor or a dead path is itself alertable;
* ``camcanary_store_up``: 1 when the queries above succeeded, 0 when the database failed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.results import ProbeResult
from monitor.store import UNAVAILABLE, Engine
from monitor.store.status import gauges
from monitor.verdict import KillSwitchState, Verdict

log = logging.getLogger(__name__)

# Probe durations: a snapshot over loopback takes milliseconds, a 3g HLS probe tens of
# seconds; the deadline (default 20 s) caps the top.
DURATION_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
LAG_BUCKETS: Final = (0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0)
METRIC_NAMES: Final = (
    "camcanary_probes_total",
    "camcanary_probe_duration_seconds",
    "camcanary_probe_received_bytes_total",
    "camcanary_probe_decoded_bytes_total",
    "camcanary_scheduler_lag_seconds",
    "camcanary_open_incidents",
    "camcanary_killswitch_state",
    "camcanary_outbox_depth",
    "camcanary_outbox_dead",
    "camcanary_last_success_timestamp_seconds",
    "camcanary_store_up",
)
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class StoreCollector(Collector):
    """The gauges that live in the database, queried at each scrape."""

    def __init__(self, engine: Engine, paths: Sequence[str]) -> None:
        self._engine = engine
        self._paths = tuple(paths)

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("camcanary_store_up", "1 if the database answered this scrape")
        try:
            families = self._query()
        except UNAVAILABLE as exc:
            log.error("metrics: the database failed: %s", exc)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]

    def _query(self) -> list[Metric]:
        now = gauges(self._engine)
        incidents, switches, last = now.open_incidents, now.kill_switches, now.last_success
        paths = sorted(set(self._paths) | set(incidents) | set(switches))
        open_incidents = GaugeMetricFamily(
            "camcanary_open_incidents", "Open leak incidents", labels=["path"]
        )
        for path in paths:
            open_incidents.add_metric([path], incidents.get(path, 0))
        state = GaugeMetricFamily(
            "camcanary_killswitch_state",
            "Kill switch state of each path: 1 for the current state",
            labels=["path", "state"],
        )
        for path, current in sorted(switches.items()):
            for name in tuple(KillSwitchState):
                state.add_metric([path, name], 1 if current == name else 0)
        success = GaugeMetricFamily(
            "camcanary_last_success_timestamp_seconds",
            "Unix time of the last probe of the path that was not an error",
            labels=["path"],
        )
        for path, at in sorted(last.items()):
            success.add_metric([path], at.timestamp())
        return [
            open_incidents,
            state,
            GaugeMetricFamily(
                "camcanary_outbox_depth",
                "Alert messages waiting for delivery",
                value=now.outbox_depth,
            ),
            GaugeMetricFamily(
                "camcanary_outbox_dead", "Alert messages given up on", value=now.outbox_dead
            ),
            success,
        ]


class Metrics:
    """One monitor's metrics; ``exposition()`` renders the text format (blocking I/O)."""

    def __init__(
        self,
        engine: Engine | None,
        paths: Sequence[str] = (),
        profiles: Sequence[str] = (),
    ) -> None:
        self.registry = CollectorRegistry()
        self.probes = Counter(
            "camcanary_probes",
            "Probes finished, by verdict",
            ["path", "profile", "verdict"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "camcanary_probe_duration_seconds",
            "Probe duration, from start to verdict",
            ["path", "profile"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        # Wire bytes are what the network carried; decoded bytes what a path's parser
        # was given after Content-Encoding. A ratio far above 1 is a compressing cloud.
        self.received = Counter(
            "camcanary_probe_received_bytes",
            "Body bytes probes read off the network",
            ["path"],
            registry=self.registry,
        )
        self.decoded = Counter(
            "camcanary_probe_decoded_bytes",
            "Body bytes probes decoded from what they received (Content-Encoding)",
            ["path"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "camcanary_scheduler_lag_seconds",
            "How late scheduled probes start after their planned time",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        # Every series exists from the start, so rate() and absent() work from zero.
        for path in paths:
            self.received.labels(path)
            self.decoded.labels(path)
            for profile in profiles:
                self.duration.labels(path, profile)
                for verdict in Verdict:
                    self.probes.labels(path, profile, str(verdict))
        if engine is not None:
            self.registry.register(StoreCollector(engine, paths))

    def observe(self, result: ProbeResult) -> None:
        self.probes.labels(result.path, result.profile, str(result.verdict)).inc()
        self.duration.labels(result.path, result.profile).observe(result.duration_s)
        self.received.labels(result.path).inc(result.bytes_received)
        decoded = result.bytes_received if result.bytes_decoded is None else result.bytes_decoded
        self.decoded.labels(result.path).inc(decoded)

    def observe_lag(self, seconds: float) -> None:
        self.lag.observe(max(0.0, seconds))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
