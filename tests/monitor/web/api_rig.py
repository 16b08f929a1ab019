"""A seeded store and the real web app served on loopback, for the API and auth tests.

The server runs its own event loop in a thread, so tests (and schemathesis) speak
plain synchronous HTTP to ``rig.url``. Seed, relative to ``NOW``:

* paths ``app`` and ``hub`` x profiles ``good``/``3g`` x canaries ``lobby``/``nursery``,
  ``ROUNDS`` rounds a minute apart (``app`` always ``own``; ``hub/3g`` ``error`` in
  round 2); round ``ROUNDS - 1`` on ``hub/3g`` for ``nursery`` is a ``foreign_canary``
  leak (source ``lobby``) folded into incident ``rig.incident_id``;
* users: ``vera`` (viewer), ``olga`` and ``otto`` (operators), ``ci`` (publisher),
  ``rex`` (viewer, token revoked).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from monitor.config import WebConfig
from monitor.killswitch import RecordKillSwitch
from monitor.killswitch.machine import KillSwitchService
from monitor.store import Store
from monitor.store.accounts import Accounts
from monitor.verdict import Verdict
from monitor.web import WebServer, create_app
from monitor.web.context import WebContext
from tests.fleet import canaries, probe_result, snapshot_paths

# Real time (to the minute): kill-switch audit rows are stamped with the wall clock.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
ROUNDS = 6
CANARIES = canaries("lobby", "nursery", token="t{n}")
PATHS = snapshot_paths("app", "hub")
PROFILES = ("good", "3g")


def iso(minutes_ago: float) -> str:
    """``NOW - minutes_ago`` as the API writes times."""
    return (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


@dataclass
class Rig:
    url: str
    store: Store
    tokens: dict[str, str]  # user name -> token
    incident_id: int
    probes: int  # how many were seeded


def _verdict(path: str, profile: str, canary: str, round_: int) -> Verdict:
    if path == "hub" and profile == "3g":
        if round_ == 2:
            return Verdict.ERROR
        if round_ == ROUNDS - 1 and canary == "nursery":
            return Verdict.FOREIGN_CANARY
    return Verdict.OWN


def seed(store: Store) -> tuple[int, int]:
    store.migrate()
    store.register(CANARIES, PATHS)
    incident_id, count = 0, 0
    for round_ in range(ROUNDS):
        at = NOW - timedelta(minutes=ROUNDS - round_)
        for path in PATHS:
            for profile in PROFILES:
                for canary in CANARIES:
                    verdict = _verdict(path.name, profile, canary.name, round_)
                    error = verdict == Verdict.ERROR
                    result = probe_result(
                        verdict, at, canary=canary.name, path=path.name, profile=profile,
                        duration_s=0.2 + 0.1 * round_,
                        source_canary="lobby" if verdict.is_leak else None,
                        status=None if error else 200, detail="timeout" if error else "",
                    )  # fmt: skip
                    if verdict.is_leak:
                        incident, _ = store.add_leak(result)
                        incident_id = incident.id
                        store.record(result, incident_id)
                    else:
                        store.record(result)
                    count += 1
    return incident_id, count


def users(store: Store) -> dict[str, str]:
    accounts = Accounts(store.engine)
    tokens = {
        name: accounts.add_user(name, role, NOW)
        for name, role in (
            ("vera", "viewer"),
            ("olga", "operator"),
            ("otto", "operator"),
            ("ci", "publisher"),
            ("rex", "viewer"),
        )
    }
    rex = next(t for t in accounts.tokens() if t.user == "rex")
    accounts.revoke(rex.id, NOW)
    return tokens


@contextmanager
def served(make_app: Callable[[], web.Application]) -> Iterator[str]:
    """Serve ``make_app()`` on 127.0.0.1 from a thread; yields the base URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, object] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = WebServer(make_app(), port=0)
        try:
            loop.run_until_complete(server.start())
            box["url"] = server.url
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        if not ready.wait(30) or "error" in box:
            raise RuntimeError(f"the web app did not start: {box.get('error')}")
        yield str(box["url"])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


@contextmanager
def rig(db_url: str, *, web_config: WebConfig | None = None) -> Iterator[Rig]:
    store = Store(db_url)
    try:
        incident_id, count = seed(store)
        tokens = users(store)
        switches = KillSwitchService(store, RecordKillSwitch(), PATHS, profiles=PROFILES)
        ctx = WebContext(
            store,
            switches,
            config=web_config or WebConfig(),
            clock=lambda: NOW,
            paths=tuple(p.name for p in PATHS),
            profiles=PROFILES,
            canaries=tuple(c.name for c in CANARIES),
        )
        with served(lambda: create_app(ctx)) as url:
            yield Rig(url, store, tokens, incident_id, count)
    finally:
        store.close()
