"""What every web handler needs, in one object: ``request.app[CONTEXT]``.

The service builds one `WebContext` per process and hands it to ``create_app``; the
API, the pages and ``/metrics`` read it and nothing else. Optional parts are None
when the service runs without them (no incident engine in a flag-endpoint-only app,
no evidence vault without a key, no history before the data layer exists).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from aiohttp import web

from monitor.config import WebConfig
from monitor.killswitch.machine import KillSwitchService
from monitor.store import Store

if TYPE_CHECKING:
    from alerts.evidence import EvidenceVault
    from canaries import Codebook
    from monitor.incidents import IncidentEngine
    from monitor.service.metrics import Metrics
    from monitor.store.history import History


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebContext:
    store: Store
    kill_switches: KillSwitchService
    history: History | None = None
    engine: IncidentEngine | None = None
    vault: EvidenceVault | None = None
    config: WebConfig = field(default_factory=WebConfig)
    metrics: Metrics | None = None
    clock: Callable[[], datetime] = _utcnow
    # Names of the configured fleet, for the API's filters and the pages' matrix.
    paths: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    canaries: tuple[str, ...] = ()
    # The deployment codebook: the incident page renders the *expected* canary frame.
    codebook: Codebook | None = None


CONTEXT: Final = web.AppKey("camcanary.context", WebContext)
