"""The one composition root: every part of a running monitor, built from a `Config`.

`compose` is the only place that chooses implementations (notifiers, kill-switch
backend, network backend, path adapters, Slack); `monitor.service.monitor.Monitor`
runs what it builds, and tests pass their own notifiers or kill switch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts import Notifier, build_notifier
from alerts.evidence import EvidenceVault
from alerts.outbox import OutboxSender, utcnow
from alerts.slack import SlackNotifier
from canaries import Codebook, Reader
from monitor.config import Config
from monitor.incidents import IncidentEngine
from monitor.killswitch import KillSwitchBackend, build_kill_switch
from monitor.killswitch.machine import KillSwitchService
from monitor.network import open_backend
from monitor.network.base import RouteBackend
from monitor.paths import PATH_KINDS, IntegrationPath
from monitor.probe import Prober, ProbeSpec
from monitor.service.metrics import Metrics
from monitor.store import Store
from monitor.store.history import History
from monitor.web.slack_actions import SlackActions


def probe_matrix(config: Config) -> list[ProbeSpec]:
    """Every canary x path x profile, in a stable order."""
    return [
        ProbeSpec(canary, path, profile)
        for path in config.paths
        for profile in config.profiles
        for canary in config.canaries
    ]


@dataclass
class Parts:
    store: Store
    history: History
    specs: list[ProbeSpec]
    metrics: Metrics
    notifiers: list[Notifier]
    kill_switch: KillSwitchBackend
    pool: RouteBackend
    adapters: dict[str, IntegrationPath]
    codebook: Codebook
    prober: Prober
    kill_switches: KillSwitchService
    slack: SlackNotifier | None  # every message goes through the durable outbox
    outbox: OutboxSender | None
    vault: EvidenceVault
    engine: IncidentEngine
    slack_actions: SlackActions | None  # the incident buttons' endpoint, for the web app


def compose(
    config: Config,
    *,
    notifiers: Sequence[Notifier] | None = None,
    kill_switch: KillSwitchBackend | None = None,
    clock: Callable[[], datetime] | None = None,
    outbox_options: Mapping[str, Any] | None = None,
) -> Parts:
    store = Store(config.store.url)
    chosen = (
        list(notifiers)
        if notifiers is not None
        else [build_notifier(n.kind) for n in config.alerts]
    )
    backend = kill_switch or build_kill_switch(config.killswitch)
    pool = open_backend(config.network.backend, toxiproxy_url=config.network.toxiproxy_url)
    adapters: dict[str, IntegrationPath] = {
        path.name: PATH_KINDS[path.kind](path) for path in config.paths
    }
    book = Codebook(config.deployment.secret.get_secret_value().encode())
    prober = Prober(
        Reader(book, [canary.name for canary in config.canaries]),
        adapters,
        pool,
        deadline_s=config.probe.deadline_s,
        stale_after_s=config.probe.stale_after_s,
    )
    kill_switches = KillSwitchService(
        store,
        backend,
        config.paths,
        profiles=config.profiles,
        clean_rounds=config.killswitch.clean_rounds,
    )
    slack_client: SlackNotifier | None = None
    outbox: OutboxSender | None = None
    slack = config.slack
    if slack.enabled and slack.bot_token is not None:
        slack_client = SlackNotifier(
            slack.bot_token.get_secret_value(),
            channel=slack.channel or "",
            base_url=slack.api_url,
            min_interval_s=slack.min_interval_s,
        )
        outbox = OutboxSender(
            store.engine, slack_client, clock=clock or utcnow, **(outbox_options or {})
        )
    vault = EvidenceVault(
        config.evidence.key_bytes, retention=timedelta(seconds=config.evidence.retention_s)
    )
    engine = IncidentEngine(
        store,
        chosen,
        backend,
        config.paths,
        kill_switches=kill_switches,
        slack=slack,
        incidents=config.incidents,
        vault=vault,
        profiles=config.profiles,
        wake=outbox.wake if outbox is not None else None,
        clock=clock or utcnow,
    )
    actions: SlackActions | None = None
    if slack_client is not None and slack.signing_secret is not None:
        actions = SlackActions(
            engine,
            kill_switches,
            signing_secret=slack.signing_secret.get_secret_value(),
            oncall=slack.oncall,
        )
    return Parts(
        store=store,
        history=History(store.engine),
        specs=probe_matrix(config),
        metrics=Metrics(store.engine, [path.name for path in config.paths], config.profiles),
        notifiers=chosen,
        kill_switch=backend,
        pool=pool,
        adapters=adapters,
        codebook=book,
        prober=prober,
        kill_switches=kill_switches,
        slack=slack_client,
        outbox=outbox,
        vault=vault,
        engine=engine,
        slack_actions=actions,
    )
