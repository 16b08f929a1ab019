"""The fleet the database-backed tests share: canaries, snapshot paths on a cloud that
is never dialled (``cloud.test``), a migrated store with that fleet registered, and one
builder of probe results.

Modules that need another fleet pass other names and options to these factories; they
do not copy them. A module's fixture is made by `store_fixture`::

    CANARIES = canaries("lobby", "nursery")
    PATHS = snapshot_paths("app", "hub", hub=TRIP)
    store = store_fixture(CANARIES, PATHS)  # on SQLite and PostgreSQL (``db_url``)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig

from monitor.config import CanaryConfig, PathConfig
from monitor.results import ProbeResult
from monitor.store import MIGRATIONS, Store
from monitor.verdict import Verdict

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
TRIP: Mapping[str, Any] = {"on_leak": "trip"}
TOKEN_OF_NAME = "t-{name}"  # "t-lobby"; "t{n}" numbers them instead: "t1", "t2"


def canaries(*names: str, token: str = TOKEN_OF_NAME) -> tuple[CanaryConfig, ...]:
    """One canary a name, camera ``cam-<name>``; ``token`` is a template of ``{name}``
    and ``{n}`` (the canary's place in the fleet, from 1)."""
    return tuple(
        CanaryConfig(name=name, camera_id=f"cam-{name}", token=token.format(name=name, n=n))
        for n, name in enumerate(names, start=1)
    )


def snapshot_paths(*names: str, **options: Mapping[str, Any]) -> tuple[PathConfig, ...]:
    """A snapshot path a name at ``http://cloud.test/<name>/{camera_id}``; ``options``
    gives further `PathConfig` fields by path name (``hub=TRIP``)."""
    unknown = set(options) - set(names)
    if unknown:
        raise ValueError(f"options for paths not in the fleet: {sorted(unknown)}")
    return tuple(
        PathConfig(
            name=name,
            kind="snapshot",
            url=f"http://cloud.test/{name}/{{camera_id}}",
            **options.get(name, {}),
        )
        for name in names
    )


def open_store(
    url: str, canaries: tuple[CanaryConfig, ...], paths: tuple[PathConfig, ...]
) -> Store:
    """A migrated store at ``url`` with the fleet registered; the caller closes it."""
    store = Store(url)
    try:
        store.migrate()
        store.register(canaries, paths)
    except BaseException:
        store.close()
        raise
    return store


@contextmanager
def registered_store(
    url: str, canaries: tuple[CanaryConfig, ...], paths: tuple[PathConfig, ...]
) -> Iterator[Store]:
    store = open_store(url, canaries, paths)
    try:
        yield store
    finally:
        store.close()


def alembic(store: Store, verb: str, revision: str) -> None:
    """``alembic <verb> <revision>`` (``upgrade``, ``downgrade``) on the store's database,
    for the tests of one migration."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, verb)(config, revision)


def store_fixture(
    canaries: tuple[CanaryConfig, ...],
    paths: tuple[PathConfig, ...],
    *,
    databases: Literal["both", "sqlite"] = "both",
) -> Any:
    """A ``store`` fixture of this fleet, on SQLite and PostgreSQL (``db_url``) or on
    SQLite alone. Each database needs its own fixture function: pytest parametrizes a
    fixture by the arguments it names, not by ones requested at run time."""

    def on_both(db_url: str) -> Iterator[Store]:
        with registered_store(db_url, canaries, paths) as store:
            yield store

    def on_sqlite(sqlite_url: str) -> Iterator[Store]:
        with registered_store(sqlite_url, canaries, paths) as store:
            yield store

    chosen: dict[str, Callable[[str], Iterator[Store]]] = {"both": on_both, "sqlite": on_sqlite}
    return pytest.fixture(name="store")(chosen[databases])


def probe_result(
    verdict: Verdict, at: datetime = T0, *, canary: str, path: str, profile: str, **facts: Any
) -> ProbeResult:
    """A probe result; ``facts`` are its further `ProbeResult` fields (``duration_s``
    defaults to 0.5 s)."""
    facts.setdefault("duration_s", 0.5)
    return ProbeResult(canary, path, profile, at, verdict=verdict, **facts)


def leak(
    verdict: Verdict = Verdict.FOREIGN_CANARY,
    *,
    path: str = "hub",
    canary: str = "nursery",
    source: str | None = "lobby",
    profile: str = "3g",
    seconds: float = 0,
    with_frame: bytes | None = None,
    detail: str = "frame carries another canary's code",
) -> ProbeResult:
    """What nursery reads when the hub serves it lobby's frame, ``seconds`` after `T0`."""
    at = T0 + timedelta(seconds=seconds)
    facts = {"distance": 4, "status": 200, "bytes_received": 4800}
    return probe_result(
        verdict, at, canary=canary, path=path, profile=profile, duration_s=0.6,
        source_canary=source, detail=detail, frame=with_frame, **facts,
    )  # fmt: skip


def in_threads(worker: Callable[[int], None], count: int, *, timeout: float) -> None:
    """``worker(0)`` to ``worker(count - 1)``, each on a thread of its own, all at once;
    waits for each at most ``timeout`` s."""
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
