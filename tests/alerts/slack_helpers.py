"""Shared pieces of the Slack tests: a store, an engine wired to the fake Slack
through the real slack-sdk client, probe results and a settable clock."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image

from alerts.evidence import EvidenceVault
from alerts.outbox import OutboxSender
from alerts.slack import SlackNotifier
from monitor.config import IncidentsConfig, SlackConfig
from monitor.incidents import IncidentEngine
from monitor.killswitch import RecordKillSwitch
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.verdict import Verdict
from testbed.fake_slack import FakeSlack
from tests import fleet
from tests.fleet import T0, TRIP, canaries, leak, snapshot_paths

CHANNEL, HEALTH = "C0LEAKS", "C0PROBEHEALTH"
ONCALL = ("UONCALL1", "UONCALL2")
EVIDENCE_KEY = bytes(range(32))
CANARIES = canaries("lobby", "nursery", token="t{n}")
PATHS = snapshot_paths("app", "hub", hub=TRIP)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def open_store(url: str) -> Store:
    return fleet.open_store(url, CANARIES, PATHS)


@contextlib.asynccontextmanager
async def slack_and_store(url: str) -> AsyncIterator[tuple[FakeSlack, Store]]:
    """A local fake Slack and this fleet's store, both closed afterwards."""
    async with FakeSlack() as fake:
        store = open_store(url)
        try:
            yield fake, store
        finally:
            store.close()


SIGNING_SECRET = "slack signing secret for tests"


def slack_config(fake: FakeSlack, **extra: Any) -> SlackConfig:
    """As config.py builds it: the secrets and the API URL from the environment."""
    environ = {
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "CAMCANARY_SLACK_API_URL": fake.url,
    }
    data = {
        "channel": CHANNEL,
        "probe_health_channel": HEALTH,
        "oncall": list(ONCALL),
        "web_base_url": "https://camcanary.example",
        "population": {"hub": 1044},
        "min_interval_s": 0,
        **extra,
    }
    return SlackConfig.model_validate(data, context={"environ": environ})


def notifier(fake: FakeSlack, pace_s: float = 0) -> SlackNotifier:
    return SlackNotifier(fake.token, channel=CHANNEL, base_url=fake.url, min_interval_s=pace_s)


def sender(
    store: Store, fake: FakeSlack, clock: Clock | None = None, *, pace_s: float = 0
) -> OutboxSender:
    # Backoff compressed like the fake's time (a cap of 60 s becomes 0.2 s).
    options: dict[str, Any] = {"backoff_base_s": 0.05, "backoff_cap_s": 0.2, "poll_s": 0.05}
    if clock is not None:
        options["clock"] = clock
    return OutboxSender(store.engine, notifier(fake, pace_s), **options)


def engine(
    store: Store,
    fake: FakeSlack,
    *,
    clock: Clock | None = None,
    incidents: IncidentsConfig | None = None,
    vault: EvidenceVault | None = None,
) -> IncidentEngine:
    return IncidentEngine(
        store,
        [],
        RecordKillSwitch(),
        PATHS,
        slack=slack_config(fake),
        incidents=incidents,
        vault=vault,
        clock=clock or (lambda: datetime.now(UTC)),
    )


def frame(seed: int = 7) -> bytes:
    """A JPEG of noise: stands in for a stranger's private picture."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (96, 64), bytes(rng.getrandbits(8) for _ in range(96 * 64 * 3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def clean(profile: str, *, path: str = "hub", verdict: Verdict = Verdict.OWN) -> ProbeResult:
    return leak(verdict, path=path, source=None, profile=profile)


async def drain(outbox: OutboxSender, timeout_s: float = 10.0) -> None:
    """Deliver until nothing is pending (or fail after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while outbox.pending():
        assert time.monotonic() < deadline, f"{outbox.pending()} messages still pending"
        if not await outbox.deliver_due():
            await asyncio.sleep(0.02)
