"""Migration 0007 on SQLite and PostgreSQL with real rows: an incident's clean rounds
and acknowledgement move from the Slack table ``alert_threads`` to ``incidents`` and,
on downgrade, back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.config import CanaryConfig, PathConfig
from monitor.store import Store
from monitor.store.models import UTCDateTime
from tests.fleet import alembic

CANARIES = (CanaryConfig(name="lobby", camera_id="cam-lobby", token="t-lobby"),)
PATHS = (PathConfig(name="hub", kind="snapshot", url="http://cloud.test/hub/{camera_id}"),)
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ACKED_AT = T0 + timedelta(minutes=3)
MOVED = ("clean_rounds", "clean_profiles", "acked_by", "acked_at")

# The tables as 0006 left them (the models describe the newest schema, not this one).
incidents = sa.table(
    "incidents",
    sa.column("id", sa.Integer),
    sa.column("open_key", sa.String),
    sa.column("path", sa.String),
    sa.column("status", sa.String),
    sa.column("first_seen", UTCDateTime),
    sa.column("last_seen", UTCDateTime),
    sa.column("hits", sa.Integer),
    sa.column("verdicts", sa.JSON),
    sa.column("canaries", sa.JSON),
    sa.column("sources", sa.JSON),
    sa.column("profiles", sa.JSON),
    sa.column("clean_rounds", sa.Integer),
    sa.column("clean_profiles", sa.JSON),
    sa.column("acked_by", sa.String),
    sa.column("acked_at", UTCDateTime),
)
threads = sa.table(
    "alert_threads",
    sa.column("incident_id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("ts", sa.String),
    sa.column("notified_at", UTCDateTime),
    sa.column("renotified", sa.Integer),
    sa.column("clean_rounds", sa.Integer),
    sa.column("clean_profiles", sa.JSON),
    sa.column("acked_by", sa.String),
    sa.column("acked_at", UTCDateTime),
)
probe_results = sa.table(
    "probe_results",
    sa.column("started_at", UTCDateTime),
    sa.column("duration_s", sa.Float),
    sa.column("canary", sa.String),
    sa.column("path", sa.String),
    sa.column("profile", sa.String),
    sa.column("verdict", sa.String),
    sa.column("bytes_received", sa.Integer),
    sa.column("detail", sa.String),
    sa.column("incident_id", sa.Integer),
)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    try:
        yield store
    finally:
        store.close()


def incident(incident_id: int, status: str = "open") -> dict[str, Any]:
    return {
        "id": incident_id,
        "open_key": f"hub/{incident_id}" if status == "open" else None,
        "path": "hub",
        "status": status,
        "first_seen": T0,
        "last_seen": T0 + timedelta(minutes=1),
        "hits": 2,
        "verdicts": {"foreign_canary": 2},
        "canaries": ["lobby"],
        "sources": ["nursery"],
        "profiles": ["3g"],
    }


def hit(incident_id: int) -> dict[str, Any]:
    """A probe row pointing at the incident: its foreign key must survive the move."""
    return {
        "started_at": T0,
        "duration_s": 0.5,
        "canary": "lobby",
        "path": "hub",
        "profile": "3g",
        "verdict": "foreign_canary",
        "bytes_received": 10,
        "detail": "",
        "incident_id": incident_id,
    }


def columns(store: Store, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(store.engine).get_columns(table)}


def seed_at_0006(store: Store) -> None:
    """Two incidents as the code before 0007 wrote them: each with its thread row."""
    alembic(store, "upgrade", "0006")
    store.register(CANARIES, PATHS)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(incidents), [incident(1), incident(2, "resolved")])
        conn.execute(sa.insert(probe_results), [hit(1), hit(2)])
        conn.execute(
            sa.insert(threads),
            [
                {
                    "incident_id": 1,
                    "channel": "C-LEAKS",
                    "ts": "1700000000.000100",
                    "notified_at": T0,
                    "renotified": 2,
                    "clean_rounds": 2,
                    "clean_profiles": ["good"],
                    "acked_by": "U-OLGA",
                    "acked_at": ACKED_AT,
                },
                {  # without Slack: the row was made anyway, with no channel
                    "incident_id": 2,
                    "channel": "",
                    "ts": None,
                    "notified_at": T0,
                    "renotified": 0,
                    "clean_rounds": 3,
                    "clean_profiles": [],
                    "acked_by": None,
                    "acked_at": None,
                },
            ],
        )


def test_upgrade_moves_clean_rounds_and_acknowledgement_to_the_incident(store: Store) -> None:
    seed_at_0006(store)

    store.migrate()

    with store.engine.connect() as conn:
        moved = conn.execute(
            sa.select(incidents.c.id, *(incidents.c[c] for c in MOVED)).order_by(incidents.c.id)
        ).all()
        kept = conn.execute(
            sa.select(
                threads.c.incident_id, threads.c.channel, threads.c.ts, threads.c.renotified
            ).order_by(threads.c.incident_id)
        ).all()
        hits = conn.execute(sa.select(probe_results.c.incident_id)).scalars().all()
    assert moved == [(1, 2, ["good"], "U-OLGA", ACKED_AT), (2, 3, [], None, None)]
    assert kept == [(1, "C-LEAKS", "1700000000.000100", 2), (2, "", None, 0)]
    assert columns(store, "alert_threads") == {
        "incident_id",
        "channel",
        "ts",
        "notified_at",
        "renotified",
    }
    assert sorted(hits) == [1, 2]
    [open_one] = store.open_incidents()
    assert (open_one.id, open_one.acked_by, open_one.acked_at) == (1, "U-OLGA", ACKED_AT)


def test_downgrade_moves_them_back_and_gives_threadless_incidents_their_row(
    store: Store,
) -> None:
    seed_at_0006(store)
    store.migrate()
    with store.engine.begin() as conn:  # opened after 0007 without Slack: no thread row
        conn.execute(sa.insert(incidents).values(**incident(3)))
        conn.execute(sa.insert(probe_results).values(**hit(3)))
        conn.execute(
            sa.update(incidents)
            .where(incidents.c.id == 3)
            .values(clean_rounds=1, clean_profiles=["3g"], acked_by="U-VERA", acked_at=ACKED_AT)
        )

    alembic(store, "downgrade", "0006")

    with store.engine.connect() as conn:
        back = conn.execute(
            sa.select(
                threads.c.incident_id, threads.c.channel, *(threads.c[c] for c in MOVED)
            ).order_by(threads.c.incident_id)
        ).all()
    assert back == [
        (1, "C-LEAKS", 2, ["good"], "U-OLGA", ACKED_AT),
        (2, "", 3, [], None, None),
        (3, "", 1, ["3g"], "U-VERA", ACKED_AT),
    ]
    assert columns(store, "incidents").isdisjoint(MOVED)
    assert set(MOVED) <= columns(store, "alert_threads")
