"""A seeded camcanary database and web app for the dashboard tests (pages and browser).

Real parts only: the Alembic-migrated store, probe results recorded through
`Store.record` (rollups included) and leaks through the real `IncidentEngine` with an
encrypted `EvidenceVault`, the real kill switch service, real users and tokens.

What the seed contains, relative to ``now`` (the time of seeding):

* paths ``app`` and ``hub`` x profiles ``good`` and ``3g``, one probe a minute each
  for the last 50 minutes: ``app/good`` own, ``app/3g`` own with a few ``own_stale``,
  ``hub/good`` own with recent ``error``s, ``hub/3g`` own;
* incident 1: ``hub`` ``foreign_canary``: nursery saw garage's canary frame, 2 hits
  5 and 4 minutes ago (the hub's kill switch trips by policy), Slack thread known;
* incident 2: ``hub`` ``foreign``: lobby got a real photograph (a face), 1 hit;
* incident 3: ``app`` ``spliced`` two hours ago, its evidence viewed once and then
  purged (retention);
* a ``cache_update`` event on ``hub`` 20 minutes ago.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import TypeVar

import pytest
import skimage.data
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from alerts import Alert, Notifier
from alerts.evidence import EvidenceVault
from alerts.tables import threads
from canaries import Codebook, render
from monitor.config import WebConfig
from monitor.incidents import IncidentEngine
from monitor.killswitch import RecordKillSwitch
from monitor.killswitch.machine import KillSwitchService
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.store.accounts import Accounts
from monitor.store.evidence_views import one_evidence, record_view
from monitor.store.history import History
from monitor.verdict import Verdict
from monitor.web.app import create_app
from monitor.web.context import WebContext
from monitor.web.pages.base import CODEBOOK
from tests.fleet import TRIP, canaries, open_store, probe_result, snapshot_paths

SECRET = b"dashboard tests: deployment secret"
EVIDENCE_KEY = bytes(range(32))
PROFILES = ("good", "3g")
CANARIES = canaries("lobby", "nursery", "garage", token="t{n}")
PATHS = snapshot_paths("app", "hub", hub=TRIP)
PAGE_DELAY = timedelta(seconds=30)
SLACK_CHANNEL, SLACK_TS = "C0CAMCANARY", "1790000000.000100"
T = TypeVar("T")


class QuietNotifier(Notifier):
    async def send(self, alert: Alert) -> None:
        return None


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def private_photo() -> bytes:
    """A real photograph with a face: what a leaked customer frame looks like."""
    return jpeg(Image.fromarray(skimage.data.astronaut()))


@dataclass
class Seeded:
    store: Store
    ctx: WebContext
    history: History
    engine: IncidentEngine
    kill_switches: KillSwitchService
    vault: EvidenceVault
    tokens: dict[str, str]  # user name -> API token
    now: datetime  # when the history was seeded
    clock: list[datetime]  # the incident engine's clock (seeding moves it)

    def app(self) -> web.Application:
        app = create_app(self.ctx)
        app[CODEBOOK] = Codebook(SECRET)
        return app

    def close(self) -> None:
        self.store.close()

    def reopen(self, url: str, *, live: bool = False) -> Seeded:
        """The same seed in another database (a copy of the file): fresh services."""
        return open_seeded(url, self.tokens, self.now, live=live)


def open_seeded(
    url: str,
    tokens: dict[str, str],
    now: datetime,
    *,
    anonymous_viewer: bool = False,
    live: bool = False,
) -> Seeded:
    """The services and web context over an already migrated (and seeded) database.

    The pages see the time as ``now`` + 30 s (`PAGE_DELAY`), so what a window holds does
    not depend on how long ago the seed ran; ``live=True`` gives them the real clock.
    """
    store = Store(url)
    kill_switches = KillSwitchService(store, RecordKillSwitch(), PATHS, profiles=PROFILES)
    vault = EvidenceVault(EVIDENCE_KEY, retention=timedelta(days=7))
    clock = [datetime.now(UTC)]
    engine = IncidentEngine(
        store,
        [QuietNotifier()],
        RecordKillSwitch(),
        PATHS,
        kill_switches=kill_switches,
        vault=vault,
        profiles=PROFILES,
        clock=lambda: clock[0],
    )
    history = History(store.engine)
    ctx = WebContext(
        store=store,
        kill_switches=kill_switches,
        history=history,
        engine=engine,
        vault=vault,
        config=WebConfig(anonymous_viewer=anonymous_viewer),
        paths=tuple(p.name for p in PATHS),
        profiles=PROFILES,
        canaries=tuple(c.name for c in CANARIES),
    )
    if not live:
        ctx.clock = lambda: now + PAGE_DELAY
    return Seeded(store, ctx, history, engine, kill_switches, vault, tokens, now, clock)


def probe(
    path: str,
    profile: str,
    at: datetime,
    verdict: Verdict = Verdict.OWN,
    *,
    canary: str = "lobby",
    source: str | None = None,
    duration: float = 0.3,
    frame: bytes | None = None,
) -> ProbeResult:
    status = 200 if verdict is not Verdict.ERROR else 503
    return probe_result(
        verdict, at, canary=canary, path=path, profile=profile, duration_s=duration,
        source_canary=source, distance=6 if source else None, status=status,
        bytes_received=4800, detail=f"seeded {verdict}", frame=frame,
    )  # fmt: skip


async def seed(url: str, *, live: bool = False) -> Seeded:
    """Migrate and fill the database at ``url`` (see the module docstring)."""
    now = datetime.now(UTC)
    migrated = open_store(url, CANARIES, PATHS)
    accounts = Accounts(migrated.engine)
    tokens = {
        name: accounts.add_user(name, role, now)  # type: ignore[arg-type]
        for name, role in (("vera", "viewer"), ("olga", "operator"), ("otto", "operator"))
    }
    migrated.close()
    seeded = open_seeded(url, tokens, now, live=live)
    store, engine, vault, clock = seeded.store, seeded.engine, seeded.vault, seeded.clock

    async def handle(result: ProbeResult) -> None:
        # The engine seals the frame while it handles the hit, as in the service.
        clock[0] = result.started_at + timedelta(seconds=result.duration_s)
        await engine.handle(result)
        clock[0] = datetime.now(UTC)

    for minute in range(50, 0, -1):
        at = now - timedelta(minutes=minute, seconds=30)
        for path in ("app", "hub"):
            for profile in PROFILES:
                verdict = Verdict.OWN
                if path == "app" and profile == "3g" and minute % 7 == 0:
                    verdict = Verdict.OWN_STALE
                if path == "hub" and profile == "good" and minute in (3, 6, 40):
                    verdict = Verdict.ERROR
                slow = 3.0 if profile == "3g" else 0.25
                store.record(probe(path, profile, at, verdict, duration=slow + minute / 100))
    book = Codebook(SECRET)
    for minutes in (5, 4):  # incident 1: garage's canary frame on the hub under 3g
        at = now - timedelta(minutes=minutes)
        frame = jpeg(render(book, "garage", at, (640, 360)))
        await handle(
            probe(
                "hub",
                "3g",
                at,
                Verdict.FOREIGN_CANARY,
                canary="nursery",
                source="garage",
                duration=2.5,
                frame=frame,
            )
        )
    at = now - timedelta(minutes=3)  # incident 2: somebody's photograph
    await handle(probe("hub", "3g", at, Verdict.FOREIGN, frame=private_photo()))
    at = now - timedelta(hours=2)  # incident 3: old, its frame viewed and then purged
    await handle(probe("app", "good", at, Verdict.SPLICED, source="garage", frame=private_photo()))
    with store.engine.begin() as conn:
        conn.execute(  # the engine runs without Slack here: incident 1's thread, posted
            threads.insert().values(
                incident_id=1, channel=SLACK_CHANNEL, ts=SLACK_TS, notified_at=now, renotified=0
            )
        )
        purged = one_evidence(conn, 4)
        assert purged is not None
        assert purged.incident_id == 3
        record_view(
            conn,
            at=now - timedelta(hours=1),
            actor="olga",
            via="session",
            item=purged,
            reason="checking the splice source",
        )
        vault.purge(conn, now + timedelta(days=30), held={1, 2})
    seeded.history.add_event(
        kind="cache_update", title="hub still cache v2", at=now - timedelta(minutes=20), path="hub"
    )
    return seeded


# -- reading pages -------------------------------------------------------------------


class Elements(HTMLParser):
    """Start tags with their attributes, and the page's text, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        """Tags named ``tag`` whose attributes include ``wanted`` (``data_x`` = ``data-x``;
        ``class_`` matches one class)."""
        out = []
        for name, attrs in self.tags:
            if name != tag:
                continue
            ok = True
            for key, value in wanted.items():
                if key == "class_":
                    ok = ok and value in attrs.get("class", "").split()
                else:
                    ok = ok and attrs.get(key.replace("_", "-")) == value
            if ok:
                out.append(attrs)
        return out

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def login(client: TestClient, name: str, token: str) -> None:
    """Log ``client``'s cookie jar in through the real login form."""
    page = await client.get("/login")
    form = {"csrf_token": csrf_of(await page.text()), "name": name, "token": token, "next": "/"}
    response = await client.post("/login", data=form, allow_redirects=False)
    assert response.status == 302, await response.text()


# -- one seed per test session, copied for each test ----------------------------------

_TEMPLATES: dict[Path, Seeded] = {}
LIVE_FRESH = timedelta(minutes=5)  # a live-clock copy needs the leaks still in the window


def seeded_copy(factory: pytest.TempPathFactory, tmp_path: Path, *, live: bool = False) -> Seeded:
    """A private copy of the session's seeded SQLite database (seeding takes seconds,
    copying a file milliseconds), with fresh services over it."""
    root = factory.getbasetemp()
    stale = root in _TEMPLATES and datetime.now(UTC) - _TEMPLATES[root].now > LIVE_FRESH
    if root not in _TEMPLATES or (live and stale):  # live pages see the real clock
        template = factory.mktemp("dashboard-seed") / "seed.db"
        seeded = asyncio.run(seed(f"sqlite:///{template}"))
        seeded.close()  # the last connection closed: the WAL is checkpointed into the file
        _TEMPLATES[root] = seeded
    seeded = _TEMPLATES[root]
    source = Path(seeded.store.url.removeprefix("sqlite:///"))
    target = tmp_path / "camcanary.db"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return seeded.reopen(f"sqlite:///{target}", live=live)


def run(seeded: Seeded, scenario: Callable[[TestClient], Awaitable[T]]) -> T:
    """``await scenario(client)`` with a test client of the seeded app, in a new loop."""

    async def main() -> T:
        async with TestClient(TestServer(seeded.app())) as client:
            return await scenario(client)

    return asyncio.run(main())
