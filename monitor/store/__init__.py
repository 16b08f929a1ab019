"""Probe history, incidents and kill-switch state, in any SQLAlchemy database.

SQLite is the embedded default; PostgreSQL runs the same models and migrations.
The schema comes from Alembic (``migrate``), never from ``create_all``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import CanaryConfig, PathConfig
from monitor.errors import StoreError
from monitor.results import ProbeResult
from monitor.store import rollups
from monitor.store.killswitch.records import POLICY, set_state
from monitor.store.models import CanaryRow, IncidentRow, KillSwitchRow, PathRow, ProbeResultRow
from monitor.verdict import KillSwitchState, Verdict

MIGRATIONS = Path(__file__).parent / "migrations"
# What a database outage raises through the store: callers above it (the API's 503,
# the flag endpoint's fail-safe answer, the scrape's store_up) catch these.
UNAVAILABLE: Final = (SQLAlchemyError, StoreError)


@dataclass(frozen=True)
class Incident:
    id: int
    path: str
    status: str
    first_seen: datetime
    last_seen: datetime
    hits: int
    verdicts: dict[str, int]
    canaries: tuple[str, ...]
    sources: tuple[str, ...]
    profiles: tuple[str, ...]
    acked_by: str | None = None
    acked_at: datetime | None = None

    @classmethod
    def of(cls, row: IncidentRow) -> Incident:
        return cls(
            id=row.id,
            path=row.path,
            status=row.status,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            hits=row.hits,
            verdicts=dict(row.verdicts),
            canaries=tuple(row.canaries),
            sources=tuple(row.sources),
            profiles=tuple(row.profiles),
            acked_by=row.acked_by,
            acked_at=row.acked_at,
        )


def make_engine(url: str) -> Engine:
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(f"cannot use database URL {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

    return engine


class Store:
    """Synchronous repository; each call is one short transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate {self.engine.url!r}: {exc}") from exc

    def revisions(self) -> tuple[str | None, str]:
        """The schema's Alembic revision (None: an empty database) and the newest one."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        try:
            with self.engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the schema of {self.engine.url!r}: {exc}") from exc
        return current, str(head)

    def register(self, canaries: Iterable[CanaryConfig], paths: Iterable[PathConfig]) -> None:
        """Upsert the configured fleet; every path gets an armed kill switch if it has none."""
        now = datetime.now(UTC)
        with self._session.begin() as session:
            for canary in canaries:
                row = session.get(CanaryRow, canary.name)
                if row is None:
                    session.add(
                        CanaryRow(name=canary.name, camera_id=canary.camera_id, registered_at=now)
                    )
                else:
                    row.camera_id = canary.camera_id
            for path in paths:
                prow = session.get(PathRow, path.name)
                if prow is None:
                    session.add(PathRow(name=path.name, kind=path.kind, on_leak=path.on_leak))
                else:
                    prow.kind, prow.on_leak = path.kind, path.on_leak
                session.flush()
                if session.get(KillSwitchRow, path.name) is None:
                    session.add(
                        KillSwitchRow(
                            path=path.name,
                            state=KillSwitchState.ARMED,
                            changed_at=now,
                            reason="registered",
                        )
                    )

    def record(self, result: ProbeResult, incident_id: int | None = None) -> int:
        with self._session.begin() as session:
            row = ProbeResultRow(
                started_at=result.started_at,
                duration_s=result.duration_s,
                canary=result.canary,
                path=result.path,
                profile=result.profile,
                verdict=str(result.verdict),
                source_canary=result.source_canary,
                distance=result.distance,
                age_s=result.age_s,
                status=result.status,
                bytes_received=result.bytes_received,
                detail=result.detail[:500],
                incident_id=incident_id,
            )
            session.add(row)
            session.flush()
            # The dashboards' rollups change in the same transaction as the raw row.
            rollups.add_probe(
                session,
                canary=row.canary,
                path=row.path,
                profile=row.profile,
                verdict=row.verdict,
                started_at=row.started_at,
                duration_s=row.duration_s,
            )
            return row.id

    def add_leak(
        self,
        result: ProbeResult,
        *,
        key: str | None = None,
        within: Callable[[Session, Incident, bool], None] | None = None,
    ) -> tuple[Incident, bool]:
        """Fold a leak into its open incident; ``True`` if this opened it.

        Incidents are grouped by ``key`` (default: the path). The unique ``open_key``
        makes the open-or-join decision atomic across processes: whoever loses the
        insert race joins the winner's incident. ``within`` runs inside the same
        transaction (the alert outbox enqueues there).
        """
        key = key or result.path
        for _attempt in range(3):
            try:
                with self._session.begin() as session:
                    if self.engine.dialect.name == "sqlite":
                        # pysqlite sends no BEGIN before a SELECT: take the write lock
                        # first, or two joiners read the same hits and one update is lost.
                        session.execute(text("BEGIN IMMEDIATE"))
                    row = session.scalars(
                        select(IncidentRow)
                        .where(IncidentRow.open_key == key)
                        .with_for_update()  # PostgreSQL: joiners queue on the open row
                    ).one_or_none()
                    created = row is None
                    if row is None:
                        row = IncidentRow(
                            open_key=key,
                            path=result.path,
                            status="open",
                            first_seen=result.started_at,
                            last_seen=result.started_at,
                            hits=0,
                            verdicts={},
                            canaries=[],
                            sources=[],
                            profiles=[],
                        )
                        session.add(row)
                    _fold(row, result)
                    session.flush()
                    incident = Incident.of(row)
                    if within is not None:
                        within(session, incident, created)
                    return incident, created
            except IntegrityError:
                continue
        raise StoreError(f"could not open or join the incident of path {result.path!r}")

    def open_incidents(self) -> list[Incident]:
        with self._session() as session:
            rows = session.scalars(select(IncidentRow).where(IncidentRow.status == "open"))
            return [Incident.of(row) for row in rows]

    def kill_switch(self, path: str) -> str:
        with self._session() as session:
            row = session.get(KillSwitchRow, path)
            if row is None:
                raise StoreError(f"no kill switch for unknown path {path!r}")
            return row.state

    def kill_switches(self) -> dict[str, str]:
        with self._session() as session:
            return {row.path: row.state for row in session.scalars(select(KillSwitchRow))}

    def set_kill_switch(
        self, path: str, state: str, reason: str, *, expect: str, actor: str = POLICY
    ) -> bool:
        """Compare-and-set: change ``path``'s switch only if it is ``expect`` now.

        The change and its append-only audit row (action ``set``) commit together;
        the state machine (`monitor.killswitch.machine`) is the usual way to change one.
        """
        with self._session() as session, session.begin():
            return set_state(session, path, state, reason, expect=expect, actor=actor)

    def verdict_counts(self, since: datetime | None = None) -> dict[tuple[str, str, str], int]:
        """(path, profile, verdict) -> number of probes, optionally since a time."""
        query = select(
            ProbeResultRow.path, ProbeResultRow.profile, ProbeResultRow.verdict, func.count()
        ).group_by(ProbeResultRow.path, ProbeResultRow.profile, ProbeResultRow.verdict)
        if since is not None:
            query = query.where(ProbeResultRow.started_at >= since)
        with self._session() as session:
            return {(p, pr, v): n for p, pr, v, n in session.execute(query)}

    def results(self, *, path: str | None = None, limit: int = 1000) -> Sequence[ProbeResultRow]:
        query = select(ProbeResultRow).order_by(ProbeResultRow.id.desc()).limit(limit)
        if path is not None:
            query = query.where(ProbeResultRow.path == path)
        with self._session() as session:
            return list(session.scalars(query))

    def session(self) -> Session:
        return self._session()


def _fold(row: IncidentRow, result: ProbeResult) -> None:
    row.hits += 1
    row.last_seen = max(row.last_seen, result.started_at)
    verdicts = dict(row.verdicts)
    verdicts[str(result.verdict)] = verdicts.get(str(result.verdict), 0) + 1
    row.verdicts = verdicts
    row.canaries = _added(row.canaries, result.canary)
    row.sources = _added(row.sources, result.source_canary)
    row.profiles = _added(row.profiles, result.profile)
    row.clean_rounds, row.clean_profiles = 0, []  # a leak restarts the count of clean rounds


def _added(items: list[str], item: str | None) -> list[str]:
    return items if item is None or item in items else [*items, item]


__all__ = ["UNAVAILABLE", "Engine", "Incident", "Store", "Verdict"]
